"""Joint meetings: the printable minutes page, resolutions shown with their meeting, and scope."""


def test_printable_minutes_page(world, browser, api):
    client = api("community1")
    client.post("/api/v1/agenda_item/", json={"meeting": world["meeting1"], "seq": 2, "title": "绿化浇水",
                                              "proposer": "联户长", "discussion": "物业每周浇水两次"})
    page = browser("community1").get(f"/meetingview/minutes/{world['meeting1']}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for text in ("幸福社区圆桌会议", "何涛", "田云", "天山区市场监督管理局", "绿化浇水", "物业每周浇水两次",
                 "更换燃气表电池"):
        assert text in html, text
    assert "window.print()" in html


def test_minutes_of_another_community_are_404(world, browser):
    assert browser("community1").get(f"/meetingview/minutes/{world['meeting2']}").status_code == 404


def test_meeting_show_has_related_resolutions_and_print_link(world, browser):
    html = browser("community1").get(f"/meetingview/show/{world['meeting1']}").get_data(as_text=True)
    assert "更换燃气表电池" in html
    assert f"/meetingview/minutes/{world['meeting1']}" in html
    assert "小区停车难" not in html


def test_community_related_views_list_its_records(world, browser):
    html = browser("community1").get(f"/unitview/show/{world['unit1']}").get_data(as_text=True)
    assert "张丽" in html  # its member, through the related view


def test_area_page_tabs_list_sub_areas_members_and_meetings_below_it(world, browser):
    html = browser("street1").get(f"/areaview/show/{world['street1']}").get_data(as_text=True)
    assert "幸福社区" in html  # its community, as a sub-area
    assert "张丽" in html  # a member living in a grid of that community
    assert "幸福社区圆桌会议" in html
    assert "李明" not in html and "和平社区圆桌会议" not in html


def test_screens_are_chinese_by_default(world, browser):
    user = browser("community1")
    html = user.get("/partymemberview/list/").get_data(as_text=True)
    for word in ("在职党员", "新增", "社区"):
        assert word in html, word
    assert "List Party Member" not in html and ">None<" not in html
    missing = user.get("/partymemberview/show/999999")
    assert missing.status_code == 404
    assert "未找到" in missing.get_data(as_text=True)


def test_english_is_the_second_language(world, browser):
    user = browser("community1")
    user.get("/lang/en")
    html = user.get("/partymemberview/list/").get_data(as_text=True)
    assert "In-service Party members" in html
