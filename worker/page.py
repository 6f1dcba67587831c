"""The JavaScript the session runs inside WhatsApp Web, against wa-js (DESIGN.md section 2).

Listeners registered with `WPP.on` push small JSON summaries into `window.__wagw.events`; the browser
thread drains that array with one `execute_script` per poll (the event pump). Everything returned
to Python is plain JSON: wa-js models and Wids are reduced to strings here.
"""
from __future__ import annotations

EVENTS = (
    "conn.auth_code_change",
    "conn.authenticated",
    "conn.main_ready",
    "conn.logout",
    "conn.require_auth",
    "conn.qrcode_idle",
    "conn.online",
    "conn.link_code_change",
    "conn.link_code_expired",
    "conn.link_code_error",
    "chat.new_message",
    "chat.msg_ack_change",
    "group.participant_changed",
)

# Shared helpers, defined once per page load (a reload wipes them, which is how a lost
# injection is detected: `window.__wagw` is missing).
HELPERS = r"""
window.__wagw = window.__wagw || {events: [], installed: false};
window.__wagw.ser = function (x) {
  if (x === null || x === undefined) return null;
  if (typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean') return x;
  if (x._serialized) return x._serialized;
  if (x.toString && x.toString !== Object.prototype.toString) return x.toString();
  return null;
};
window.__wagw.msg = function (m) {
  var s = window.__wagw.ser;
  if (!m) return null;
  var id = m.id || {};
  return {
    id: s(id), fromMe: !!(id.fromMe !== undefined ? id.fromMe : m.fromMe),
    from: s(m.from), to: s(m.to), author: s(m.author), chat: s(id.remote || m.from),
    body: (typeof m.body === 'string') ? m.body : null, type: m.type || null, t: m.t || null,
    ack: (m.ack !== undefined) ? m.ack : null, notifyName: m.notifyName || null,
    isGroupMsg: !!m.isGroupMsg, mimetype: m.mimetype || null, caption: m.caption || null,
    filename: m.filename || null
  };
};
// Files cross between Python and the page a chunk (base64) per call, never whole: staged here
// by key (worker/media.py). A send runs in the background and is polled, so a long upload holds
// neither the browser thread nor a script timeout.
window.__wagw.files = window.__wagw.files || {};
window.__wagw.staged = function (key) {
  var f = window.__wagw.files[key];
  if (!f) throw {code: 'file_not_staged', message: 'no staged file ' + key + ' (the page was reloaded?)'};
  return f;
};
// Each chunk is appended to a Blob at once: Blob bytes live in the browser's blob storage (which
// pages big ones to disk), not in the page's heap, and a Blob made of Blobs copies nothing.
window.__wagw.filePut = function (key, b64) {
  var f = window.__wagw.files[key] = window.__wagw.files[key] || {blob: new Blob([]), size: 0};
  var bin = atob(b64), bytes = new Uint8Array(bin.length);
  for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  f.blob = new Blob([f.blob, bytes]); f.size += bytes.length;
  return f.size;
};
window.__wagw.fileSend = function (key, chatId, options) {
  var f = window.__wagw.staged(key);
  var blob = new Blob([f.blob], {type: options.mimetype || ''});
  f.blob = null; f.state = 'sending';
  WPP.chat.sendFileMessage(chatId, blob, options).then(function (r) { f.state = 'done'; f.value = r; },
    function (e) {
      f.state = 'failed';
      f.error = {code: String((e && (e.code || e.name)) || 'Error'), message: String((e && e.message) || e)};
    });
  return true;
};
window.__wagw.fileResult = function (key) {
  var f = window.__wagw.staged(key);
  if (f.state === 'sending') return {state: 'sending'};
  delete window.__wagw.files[key];
  if (f.state === 'failed') throw f.error;
  return {state: 'done', value: f.value};
};
window.__wagw.fileDownload = async function (key, msgId) {
  var blob = await WPP.chat.downloadMedia(msgId);
  window.__wagw.files[key] = {blob: blob};
  return {size: blob.size, type: blob.type || null};
};
window.__wagw.fileRead = async function (key, offset, length) {
  var bytes = new Uint8Array(await window.__wagw.staged(key).blob.slice(offset, offset + length).arrayBuffer());
  var text = '';
  for (var i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(text);
};
window.__wagw.fileDrop = function (key) { delete window.__wagw.files[key]; return true; };
// Typing before a send (worker/composing.py): markIsComposing needs the chat in the store, which
// chat.find creates for a first message; the pause it sends after `ms` is not awaited, so the
// browser thread is free meanwhile.
window.__wagw.compose = async function (chatId, ms) {
  var chat = await WPP.chat.find(chatId);
  WPP.chat.markIsComposing(chat.id, ms).catch(function (e) { console.warn('markIsComposing', e); });
  return true;
};
window.__wagw.summary = function (name, p) {
  var s = window.__wagw.ser;
  switch (name) {
    case 'conn.auth_code_change': return {code: p && p.fullCode ? p.fullCode : null};
    case 'conn.online': return {online: !!p};
    case 'conn.link_code_change': return {code: (p && p.code) ? p.code : s(p)};
    case 'conn.link_code_error': return {error: p ? String(p.message || p) : null};
    case 'chat.new_message': return {message: window.__wagw.msg(p)};
    case 'chat.msg_ack_change':
      return {ack: p ? p.ack : null, chat: p ? s(p.chat) : null, sender: p ? s(p.sender) : null,
              ids: ((p && p.ids) || []).map(s)};
    case 'group.participant_changed':
      return {groupId: p ? s(p.groupId) : null, action: p ? p.action : null, author: p ? s(p.author) : null,
              participants: ((p && p.participants) || []).map(s)};
    default: return {};
  }
};
"""

INSTALL = HELPERS + r"""
var names = arguments[0];
if (!window.__wagw.installed) {
  names.forEach(function (name) {
    WPP.on(name, function (payload) {
      try {
        window.__wagw.events.push({name: name, data: window.__wagw.summary(name, payload), at: Date.now()});
      } catch (e) {
        window.__wagw.events.push({name: name, data: {}, error: String(e), at: Date.now()});
      }
    });
  });
  window.__wagw.installed = true;
}
return true;
"""

# One call per poll: take the queued events and say whether the page still has our hooks.
DRAIN = r"""
var w = window.__wagw;
var ready = !!(window.WPP && window.WPP.isReady);
if (!w) return {hooked: false, wpp: !!window.WPP, ready: ready, events: []};
var events = w.events; w.events = [];
return {hooked: w.installed, wpp: !!window.WPP, ready: ready, events: events};
"""

IS_READY = "return !!(window.WPP && window.WPP.isReady);"
HAS_WPP = "return !!window.WPP;"

# Asynchronous: resolves when wa-js says it is ready (isReady first: onReady never fires late).
WAIT_READY = r"""
var done = arguments[arguments.length - 1];
if (window.WPP && WPP.isReady) { done(true); return; }
if (window.WPP && WPP.loader && WPP.loader.onReady) { WPP.loader.onReady(function () { done(true); }); return; }
done(false);
"""

# The connection status, used after each (re)load and periodically to correct missed events.
STATUS = r"""
var done = arguments[arguments.length - 1];
(async function () {
  var c = WPP.conn, out = {authenticated: false, mainReady: false, online: null, me: null, code: null,
                          name: null};
  out.authenticated = !!c.isAuthenticated();
  out.mainReady = !!(c.isMainReady && c.isMainReady());
  if (c.isOnline) { try { out.online = !!c.isOnline(); } catch (e) {} }
  if (out.mainReady) {
    try { var me = c.getMyUserId(); out.me = me ? (me._serialized || me.toString()) : null; } catch (e) {}
    try { out.name = (WPP.whatsapp && WPP.whatsapp.Conn && WPP.whatsapp.Conn.pushname) || null; } catch (e) {}
  } else if (!out.authenticated) {
    try { var a = await c.getAuthCode(); out.code = a && a.fullCode ? a.fullCode : null; } catch (e) {}
  }
  return out;
})().then(done, function (e) { done({error: String(e && e.message || e)}); });
"""

# Run `WPP.<path>(...args)` (or a `__wagw.` helper) and settle with {ok, value} or {ok: false, code, message}; the value
# is reduced to JSON (messages and Wids to strings) so nothing un-serialisable crosses over.
CALL = HELPERS + r"""
var path = arguments[0], args = arguments[1], done = arguments[arguments.length - 1];
var w = window.__wagw;
function plain(v, depth) {
  if (v === null || v === undefined) return null;
  if (typeof v !== 'object') return v;
  if (depth > 4) return null;
  if (v._serialized) return v._serialized;
  if (v.id && (v.body !== undefined || v.ack !== undefined) && v.type) return w.msg(v);
  if (Array.isArray(v)) return v.map(function (x) { return plain(x, depth + 1); });
  if (v.toJSON && typeof v.toJSON === 'function' && !(v instanceof Date)) {
    try { return JSON.parse(JSON.stringify(v.toJSON())); } catch (e) {}
  }
  var out = {};
  Object.keys(v).forEach(function (k) {
    var x = v[k];
    if (typeof x === 'function') return;
    out[k] = plain(x, depth + 1);
  });
  return out;
}
(async function () {
  // `__wagw.<name>`: one of the helpers above; anything else is wa-js
  var target = path.indexOf('__wagw.') === 0 ? window : WPP, parts = path.split('.'), name = parts.pop();
  parts.forEach(function (p) { target = target[p]; });
  var value = await target[name].apply(target, args);
  if (typeof Blob !== 'undefined' && value instanceof Blob) {  // media: hand it over as a data URL
    value = await new Promise(function (resolve, reject) {
      var reader = new FileReader();
      reader.onload = function () { resolve(reader.result); };
      reader.onerror = function () { reject(reader.error); };
      reader.readAsDataURL(value);
    });
  }
  return {ok: true, value: plain(value, 0)};
})().then(done, function (e) {
  done({ok: false, code: String((e && (e.code || e.name)) || 'Error'), message: String((e && e.message) || e)});
});
"""
