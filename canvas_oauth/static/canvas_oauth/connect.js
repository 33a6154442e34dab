/*
 * Connect Canvas from a page inside a Canvas iframe, through a popup.
 *
 *   <script src="{% static 'canvas_oauth/connect.js' %}"></script>
 *   <button onclick="canvasOAuthConnect({next: '/course/'})">Connect Canvas</button>
 *
 * The popup is opened at once (browsers only allow popups in answer to a click), then
 * sent to Canvas. When Canvas sends it back, this page claims the result with its own
 * session. Without a message from the popup (some browsers cut the link to the opener),
 * the page polls until the answer is there or the popup is closed.
 */
(function () {
  "use strict";

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function claim(options, state) {
    return fetch(options.completeUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Accept": "application/json",
        "Content-Type": "application/x-www-form-urlencoded",
        "X-CSRFToken": options.csrfToken || csrfToken()
      },
      body: "state=" + encodeURIComponent(state)
    }).then(function (response) {
      return response.json().then(function (body) {
        if (response.status === 202) { return null; }
        if (!response.ok) { throw new Error(body.message || "Canvas authorization failed."); }
        return body;
      });
    });
  }

  window.canvasOAuthConnect = function (options) {
    options = Object.assign({
      authorizeUrl: "/oauth/authorize",
      completeUrl: "/oauth/complete",
      next: window.location.pathname + window.location.search,
      pollMs: 1500,
      navigate: true
    }, options || {});
    var popup = window.open("", "canvas_oauth", "width=760,height=800");
    var url = options.authorizeUrl + "?popup=1&next=" + encodeURIComponent(options.next);
    return fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.json(); })
      .then(function (body) {
        if (!body.authorize_url) { throw new Error(body.message || "Could not start."); }
        popup.location = body.authorize_url;
        return new Promise(function (resolve, reject) {
          var done = false;
          function attempt() {
            if (done) { return; }
            claim(options, body.state).then(function (result) {
              if (result && !done) { done = true; resolve(result); }
            }, function (error) { done = true; reject(error); });
          }
          window.addEventListener("message", function (event) {
            if (event.origin === window.location.origin && event.data &&
                event.data.type === "canvas_oauth" && event.data.state === body.state) {
              attempt();
            }
          });
          var timer = setInterval(function () {
            if (done) { clearInterval(timer); return; }
            attempt();
            if (popup.closed) { setTimeout(attempt, 500); clearInterval(timer); }
          }, options.pollMs);
        });
      })
      .then(function (result) {
        if (options.navigate) { window.location.assign(result.next); }
        return result;
      }, function (error) {
        if (popup && !popup.closed) { popup.close(); }
        throw error;
      });
  };
})();
