/* The bell (站内消息): refresh the unread count in the navbar every minute while the page is open,
   so a reminder sent by the scan shows without a reload. No inline script: the CSP forbids it. */
(function () {
  "use strict";
  var bell = document.getElementById("gj-bell");
  var url = bell && bell.getAttribute("data-count-url");
  if (!url) { return; }
  var badge = bell.querySelector(".gj-bell-count");

  function show(count) {
    badge.textContent = count > 99 ? "99+" : String(count);
    badge.style.display = count > 0 ? "" : "none";
    bell.setAttribute("data-unread", String(count));
  }

  function poll() {
    var request = new XMLHttpRequest();
    request.open("GET", url);
    request.setRequestHeader("Accept", "application/json");
    request.onload = function () {
      if (request.status === 200) {
        try { show(JSON.parse(request.responseText).unread); } catch (e) { /* a login page: stop */ return; }
        window.setTimeout(poll, 60000);
      }
    };
    request.send();
  }
  window.setTimeout(poll, 60000);
}());
