/*
 * Connect Canvas from a page inside a Canvas iframe, through a popup.
 *
 *   <script src="{% static 'canvas_oauth/connect.js' %}"></script>
 *   <button onclick="canvasOAuthConnect({next: '/course/'})">Connect Canvas</button>
 *
 * The popup is opened at once (browsers only allow popups in answer to a click), then
 * sent to Canvas. When Canvas sends it back, this page claims the result with its own
 * session. Without a message from the popup (some browsers cut the link to the opener),
 * the page polls until the server has the answer, or says the dance is over.
 *
 * Once the link is cut (a Cross-Origin-Opener-Policy of "same-origin", Django's default,
 * cuts it as soon as the popup leaves for Canvas), popup.closed reads true while the popup
 * is still open. So a closed popup does not stop the polling: the server does, by
 * answering anything but 202 (the dance expires after CANVAS_OAUTH_STATE_TTL).
 */
(function () {
  "use strict";

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  // The JSON body of a response, or {} when it has none (say, Django's HTML CSRF page).
  function jsonBody(response) {
    return response.json().catch(function () { return {}; });
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
      return jsonBody(response).then(function (body) {
        if (response.status === 202) { return null; }
        if (!response.ok) { throw new Error(body.message || "Canvas authorization failed."); }
        return body;
      });
    });
  }

  // Claim the dance's answer when the popup says it is back, and every pollMs meanwhile.
  // One claim at a time: the answer can be claimed once, so a second claim sent while the
  // first is exchanging the code would be refused and reject the promise.
  function waitForAnswer(options, state) {
    return new Promise(function (resolve, reject) {
      var done = false;
      var inFlight = false;
      var again = false;
      var timer = null;

      function finish(settle, value) {
        if (done) { return; }
        done = true;
        clearInterval(timer);
        window.removeEventListener("message", onMessage);
        settle(value);
      }

      function attempt() {
        if (done) { return; }
        if (inFlight) { again = true; return; }
        inFlight = true;
        claim(options, state).then(function (result) {
          inFlight = false;
          if (result) { finish(resolve, result); } else if (again) { again = false; attempt(); }
        }, function (error) {
          inFlight = false;
          finish(reject, error);
        });
      }

      function onMessage(event) {
        if (event.origin === window.location.origin && event.data &&
            event.data.type === "canvas_oauth" && event.data.state === state) {
          attempt();
        }
      }

      window.addEventListener("message", onMessage);
      timer = setInterval(attempt, options.pollMs);
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
    if (!popup) {
      return Promise.reject(new Error(
        "The browser blocked the Canvas window. Please allow popups for this site and try again."
      ));
    }
    var url = options.authorizeUrl + "?popup=1&next=" + encodeURIComponent(options.next);
    return fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(jsonBody)
      .then(function (body) {
        if (!body.authorize_url) { throw new Error(body.message || "Could not start."); }
        popup.location = body.authorize_url;
        return waitForAnswer(options, body.state);
      })
      .then(function (result) {
        if (options.navigate) { window.location.assign(result.next); }
        return result;
      }, function (error) {
        if (!popup.closed) { popup.close(); }
        throw error;
      });
  };
})();
