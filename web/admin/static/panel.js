// The admin panel's only script: live fragments, confirmations, the session selector.
"use strict";

// THE way a page stays live. A live element names its HTML fragment (data-live) and the event
// types that change it (data-events, with data-session and data-match: {"field": value} that the
// event's data must have). The page opens ONE EventSource on the event stream (GET /api/events,
// with a short-lived token the panel issues against its cookie) and re-fetches a fragment when one
// of its events arrives: the server still renders the HTML. Refreshes are at most one per
// data-every ms (the first at once). If the stream cannot be opened, or an element names no
// events (nothing announces its change), the fragment is polled every data-every ms instead.
// <html data-live-transport> says which ("stream" or "polling"); each element's data-live-cause
// says what made its last change ("<type>#<event id>", "poll" or "timer").
const STALE_MS = 30000;  // with the stream: a refresh anyway, for figures no event announces (a heartbeat's age)
const REOPEN_MS = 1000;  // doubled after each failed reopening, up to 30 s

class LiveFragment {
  constructor(element) {
    this.element = element;
    this.url = element.dataset.live;
    this.every = Number(element.dataset.every) || 2000;
    this.types = new Set((element.dataset.events || "").split(",").filter(Boolean));
    this.session = element.dataset.session || null;
    this.match = JSON.parse(element.dataset.match || "{}");
    this.busy = false;
    this.pending = null;  // the cause of a refresh asked for while one was running or too soon
    this.last = 0;
    this.final = false;
  }

  wants(type, event) {
    if (!this.types.has(type) || (this.session && event.session !== this.session)) return false;
    return Object.entries(this.match).every(([key, value]) => String((event.data || {})[key]) === String(value));
  }

  async refresh(cause) {
    const wait = this.last + this.every - Date.now();
    if (this.busy || wait > 0) {
      if (this.pending === null && !this.busy) setTimeout(() => this.flush(), wait);
      this.pending = cause;
      return;
    }
    this.busy = true;
    this.last = Date.now();
    try {
      const response = await fetch(this.url, {headers: {"X-Panel-Fragment": "1"}, credentials: "same-origin"});
      if (response.status === 401) { window.location.reload(); return; }  // logged out: to the login form
      if (response.headers.get("X-Panel-Final")) this.final = true;  // e.g. a finished sync: nothing more to come
      // compared as the browser serialises both (its innerHTML is not the server's text byte for byte)
      const fresh = document.createElement(this.element.tagName);
      fresh.innerHTML = (await response.text()).trim();
      if (fresh.innerHTML !== this.element.innerHTML.trim()) {
        this.element.innerHTML = fresh.innerHTML;
        this.element.dataset.liveCause = cause;
      }
    } catch (error) {
      // the server is restarting: keep the last view
    } finally {
      this.busy = false;
    }
    if (this.pending !== null) setTimeout(() => this.flush(), Math.max(0, this.last + this.every - Date.now()));
  }

  flush() {
    const cause = this.pending;
    this.pending = null;
    if (cause !== null) this.refresh(cause);
  }

  poll() {
    const tick = () => { if (this.final) return; this.refresh("poll"); setTimeout(tick, this.every); };
    setTimeout(tick, this.every);
  }
}

function setTransport(name) { document.documentElement.dataset.liveTransport = name; }

// One EventSource for every fragment of the page that names its events.
class LiveStream {
  constructor(fragments, config) {
    this.fragments = fragments;
    this.config = config;
    this.types = [...new Set(fragments.flatMap((f) => [...f.types]))];
    const sessions = new Set(fragments.map((f) => f.session));
    this.session = sessions.size === 1 ? [...sessions][0] : null;  // else the stream filters none, each fragment its own
    this.lastId = config.after;  // the page's render: the stream replays from there
    this.source = null;
    this.polling = false;
    this.streams = 0;  // EventSources opened, each with a token of its own
    this.everOpened = false;
    this.failures = 0;
  }

  async open() {
    let token;
    try {
      const response = await fetch(this.config.tokenUrl, {
        method: "POST", credentials: "same-origin",
        headers: {"X-CSRF-Token": this.config.csrf, "X-Panel-Fragment": "1"}});
      if (response.status === 401) { window.location.reload(); return; }
      if (!response.ok) throw new Error(`stream token: ${response.status}`);
      token = (await response.json()).data.token;
    } catch (error) {
      this.failed();
      return;
    }
    const params = new URLSearchParams({types: this.types.join(","), token});
    if (this.session) params.set("session", this.session);
    // Last-Event-ID wins over it once an event came; until then a reconnection resumes from here
    if (this.lastId) params.set("after", this.lastId);
    const source = new EventSource(`${this.config.streamUrl}?${params}`);
    this.source = source;
    document.documentElement.dataset.liveStreams = ++this.streams;
    let opened = false;
    source.onopen = () => {
      opened = this.everOpened = true;
      this.failures = 0;
      setTransport("stream");
    };
    for (const type of this.types) source.addEventListener(type, (message) => this.dispatch(type, message));
    source.onerror = () => {
      // CONNECTING: the browser reconnects by itself with Last-Event-ID. CLOSED: refused (the
      // token expired after the stream's end, the server is gone): a new token and a new stream
      // from the last event seen.
      if (source.readyState !== EventSource.CLOSED) return;
      source.close();
      if (opened) setTimeout(() => this.open(), REOPEN_MS);
      else this.failed();
    };
  }

  // A stream that could not be opened: polling if the page never had one (the stream is not
  // reachable from here), else again later (the server is restarting).
  failed() {
    if (!this.everOpened) { this.fallBack(); return; }
    setTimeout(() => this.open(), Math.min(30000, REOPEN_MS * 2 ** this.failures++));
  }

  dispatch(type, message) {
    this.lastId = message.lastEventId || this.lastId;
    let event;
    try { event = JSON.parse(message.data); } catch (error) { return; }
    const cause = `${type}#${message.lastEventId}`;
    this.fragments.forEach((f) => { if (f.wants(type, event)) f.refresh(cause); });
  }

  fallBack() {
    if (this.polling) return;
    this.polling = true;
    setTransport("polling");
    this.fragments.forEach((f) => f.poll());
  }

  watchStale() {
    setInterval(() => { if (!this.polling) this.fragments.forEach((f) => f.refresh("timer")); }, STALE_MS);
  }
}

function startLive() {
  const fragments = [...document.querySelectorAll("[data-live]")].map((element) => new LiveFragment(element));
  if (!fragments.length) return;
  const meta = document.querySelector("meta[name=event-stream]");
  const streamed = meta && window.EventSource ? fragments.filter((f) => f.types.size) : [];
  fragments.filter((f) => !streamed.includes(f)).forEach((f) => f.poll());
  if (!streamed.length) { setTransport("polling"); return; }
  setTransport("connecting");
  const stream = new LiveStream(streamed, {streamUrl: meta.content, tokenUrl: meta.dataset.token,
                                           csrf: meta.dataset.csrf, after: meta.dataset.after || null});
  stream.open();
  stream.watchStale();
}

document.addEventListener("DOMContentLoaded", () => {
  startLive();
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
