"""The app boots, the schema migrates, and the contract's API answers."""


def test_login_and_list_members_through_api(world, api):
    client = api("orgdept")
    response = client.get("/api/v1/party_member/")
    assert response.status_code == 200
    assert response.json["count"] == 2
