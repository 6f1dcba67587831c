// The admin panel's only script: live fragments, confirmations, the session selector.
"use strict";

// THE way a page stays live: re-fetch an element's fragment (data-live URL) and swap it in when it
// changed. Today it polls every data-every ms; when the event stream (GET /api/events, SSE) lands,
// this function alone switches to an EventSource and re-fetches on each event instead.
function live(element) {
  const url = element.dataset.live;
  const every = Number(element.dataset.every) || 2000;
  let shown = element.innerHTML.trim();
  async function refresh() {
    try {
      const response = await fetch(url, {headers: {"X-Panel-Fragment": "1"}, credentials: "same-origin"});
      if (response.status === 401) { window.location.reload(); return; }  // logged out: to the login form
      const html = (await response.text()).trim();
      if (html !== shown) { element.innerHTML = html; shown = html; }
    } catch (error) {
      // the server is restarting: keep the last view and try again
    }
    setTimeout(refresh, every);
  }
  setTimeout(refresh, every);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-live]").forEach(live);
  document.querySelectorAll("select[data-autosubmit]").forEach((select) =>
    select.addEventListener("change", () => select.form.submit()));
});

document.addEventListener("submit", (event) => {
  // a form's own question (data-confirm), or the question of the button that submitted it
  const question = event.target.dataset.confirm || (event.submitter && event.submitter.dataset.confirmButton);
  if (question && !window.confirm(question)) event.preventDefault();
});

// A phone number checked as it is typed, by the server's own validation (the API's rules).
function checkAsYouType(input) {
  const target = document.getElementById(input.getAttribute("aria-describedby"));
  let timer = null;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const url = input.dataset.check + "?phoneNumber=" + encodeURIComponent(input.value);
      const response = await fetch(url, {headers: {"X-Panel-Fragment": "1"}, credentials: "same-origin"});
      if (response.ok) target.innerHTML = await response.text();
    }, 300);
  });
}

document.addEventListener("DOMContentLoaded", () => document.querySelectorAll("input[data-check]").forEach(checkAsYouType));
