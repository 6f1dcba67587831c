/*
 * WhatsApp Web simulator: the stand-in for the @wppconnect/wa-js bundle.
 *
 * Injected into the simulator page (driver.execute_script(fileContents)); defines window.WPP with
 * the subset of wa-js 4.6.0 listed in DESIGN.md section 2, talking to the simulator server over
 * same-origin /sim/page/... endpoints. The contract (error codes, events, persistence) is described
 * in tests/simulator/__init__.py.
 */
(function () {
  'use strict';

  if (window.WPP && window.WPP.__simulator) {
    return;
  }

  var DEVICE_KEY = 'wa-sim:device';
  var POLL_MS = 150;

  function deviceId() {
    var id = window.localStorage.getItem(DEVICE_KEY);
    if (!id) {
      var bytes = new Uint8Array(8);
      window.crypto.getRandomValues(bytes);
      id = Array.prototype.map.call(bytes, function (b) { return ('0' + b.toString(16)).slice(-2); }).join('');
      window.localStorage.setItem(DEVICE_KEY, id);
    }
    return id;
  }

  // ----- wa-js like value types ---------------------------------------------------------------
  class WPPError extends Error {
    constructor(code, message, extra) {
      super(message);
      this.code = code;
      Object.assign(this, extra || {});
    }
  }

  class Wid {
    constructor(serialized) {
      var at = serialized.lastIndexOf('@');
      this.server = serialized.slice(at + 1);
      this.user = serialized.slice(0, at);
      this._serialized = serialized;
    }
    toString() { return this._serialized; }
    toJSON() { return this._serialized; }
    equals(other) { return !!other && other.toString() === this._serialized; }
    isUser() { return this.server === 'c.us' || this.server === 'lid'; }
    isGroup() { return this.server === 'g.us'; }
    isLid() { return this.server === 'lid'; }
  }

  class MsgKey {
    constructor(data) {
      this.fromMe = data.fromMe;
      this.remote = toWid(data.remote);
      this.id = data.id;
      this.participant = data.participant ? toWid(data.participant) : undefined;
      this._serialized = data._serialized;
    }
    toString() { return this._serialized; }
  }

  class MsgModel {
    constructor(data) {
      Object.assign(this, data);
      this.id = new MsgKey(data.id);
      this.from = toWid(data.from);
      this.to = toWid(data.to);
      this.author = data.author ? toWid(data.author) : undefined;
    }
    get isMedia() { return this.type !== 'chat'; }
    serialize() {
      var out = {};
      for (var key of Object.keys(this)) {
        var value = this[key];
        out[key] = value instanceof MsgKey ? Object.assign({}, value, {remote: value.remote.toString(),
          participant: value.participant ? value.participant.toString() : undefined}) :
          value instanceof Wid ? value.toString() : value;
      }
      return out;
    }
  }

  function toWid(value) {
    if (value === null || value === undefined) return value;
    return value instanceof Wid ? value : new Wid(String(value));
  }

  // Same rules as wa-js createWid/assertWid: digits -> @c.us, digits-digits -> @g.us.
  function assertWid(id) {
    var value = id && typeof id === 'object' ? id._serialized : id;
    if (typeof value === 'string') {
      if (/^\d+$/.test(value)) return new Wid(value + '@c.us');
      if (/^\d+-\d+$/.test(value)) return new Wid(value + '@g.us');
      if (/^[\w.:-]+@(c\.us|g\.us|lid|broadcast|newsletter)$/.test(value)) return new Wid(value);
    }
    throw new WPPError('invalid_wid', 'Invalid WID value for ' + id, {id: id});
  }

  // ----- event emitter (the eventemitter2 subset wa-js code uses) -----------------------------
  class Emitter {
    constructor() { this._l = {}; this._any = []; }
    on(name, cb) { (this._l[name] = this._l[name] || []).push({cb: cb, once: false}); return this; }
    once(name, cb) { (this._l[name] = this._l[name] || []).push({cb: cb, once: true}); return this; }
    off(name, cb) {
      if (this._l[name]) this._l[name] = this._l[name].filter(function (l) { return l.cb !== cb; });
      return this;
    }
    onAny(cb) { this._any.push(cb); return this; }
    offAny(cb) { this._any = this._any.filter(function (l) { return l !== cb; }); return this; }
    removeAllListeners(name) { if (name) delete this._l[name]; else this._l = {}; return this; }
    listenerCount(name) { return (this._l[name] || []).length; }
    listeners(name) { return (this._l[name] || []).map(function (l) { return l.cb; }); }
    eventNames() { return Object.keys(this._l); }
    emit(name) {
      var args = Array.prototype.slice.call(arguments, 1);
      var listeners = (this._l[name] || []).slice();
      this._l[name] = (this._l[name] || []).filter(function (l) { return !l.once; });
      for (var any of this._any.slice()) safeCall(any, [name].concat(args));
      for (var l of listeners) safeCall(l.cb, args);
      return listeners.length > 0;
    }
    waitFor(name, timeout) {
      var self = this;
      return new Promise(function (resolve, reject) {
        var timer = null;
        var cb = function () { if (timer) clearTimeout(timer); resolve(Array.prototype.slice.call(arguments)); };
        self.once(name, cb);
        if (timeout) timer = setTimeout(function () { self.off(name, cb); reject(new Error('timeout')); }, timeout);
      });
    }
  }
  Emitter.prototype.addListener = Emitter.prototype.on;
  Emitter.prototype.removeListener = Emitter.prototype.off;

  function safeCall(cb, args) {
    try { cb.apply(null, args); } catch (e) { console.error('WPP listener error', e); }
  }

  var ev = new Emitter();

  // ----- connection to the simulator server -------------------------------------------------
  var st = {
    device: deviceId(), generation: null, seq: 0, linked: false, mainReady: false, authCode: null,
    idle: false, online: true, me: null, linkCode: null, acks: {}, ackWaiters: [],
  };

  async function call(method, path, body) {
    var options = {method: method, headers: {'Content-Type': 'application/json'}, cache: 'no-store'};
    if (body !== undefined) options.body = JSON.stringify(Object.assign({device: st.device}, body));
    var response = await fetch(window.location.origin + path, options);
    var data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    return {status: response.status, data: data};
  }

  function errorFrom(result) {
    var error = (result.data && result.data.error) || {};
    if (typeof error === 'string') error = {code: 'simulator_error', message: error};
    var extra = Object.assign({}, error);
    delete extra.code;
    delete extra.message;
    return new WPPError(error.code || 'simulator_error', error.message || 'HTTP ' + result.status, extra);
  }

  async function request(method, path, body) {
    var result = await call(method, path, body);
    if (result.status >= 400) throw errorFrom(result);
    return result.data;
  }

  function newMessageId() {
    var bytes = new Uint8Array(8);
    window.crypto.getRandomValues(bytes);
    return '3EB0' + Array.prototype.map.call(bytes, function (b) {
      return ('0' + b.toString(16)).slice(-2);
    }).join('').toUpperCase();
  }

  function sleep(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }

  function apply(name, payload) {
    switch (name) {
      case 'conn.auth_code_change':
        st.authCode = payload;
        if (payload) st.idle = false;
        break;
      case 'conn.qrcode_idle':
        st.idle = true;
        st.authCode = null;
        break;
      case 'conn.authenticated':
        st.linked = true;
        st.linkCode = null;
        break;
      case 'conn.main_ready':
        st.mainReady = true;
        break;
      case 'conn.logout':
        st.linked = false;
        st.mainReady = false;
        break;
      case 'conn.online':
        st.online = !!payload;
        break;
      case 'conn.link_code_change':
        st.linkCode = payload;
        break;
      case 'chat.new_message':
        payload = new MsgModel(payload);
        break;
      case 'chat.msg_ack_change':
        payload = {
          ack: payload.ack,
          chat: toWid(payload.chat),
          sender: payload.sender ? toWid(payload.sender) : undefined,
          ids: payload.ids.map(function (k) { return new MsgKey(k); }),
        };
        for (var key of payload.ids) {
          st.acks[key._serialized] = Math.max(st.acks[key._serialized] || 0, payload.ack);
        }
        st.ackWaiters = st.ackWaiters.filter(function (w) { return !w(); });
        if (payload.ack !== 1 && payload.ack < 2) return; // wa-js only reports ack 1 and >= 2
        break;
    }
    ev.emit(name, payload);
  }

  async function hello() {
    var data = await request('POST', '/sim/page/hello', {});
    st.generation = data.generation;
    st.seq = data.seq;
    st.linked = data.linked;
    st.mainReady = false;
    st.authCode = data.authCode;
    st.idle = data.idle;
    st.online = data.online;
    st.me = data.me;
    st.linkCode = data.linkCode;
    return data;
  }

  // What real wa-js reports right after injection: main_ready for a stored session (after a short
  // "sync"), otherwise require_auth and the current auth code.
  function announce() {
    if (st.linked) {
      setTimeout(function () { if (st.linked && !st.mainReady) apply('conn.main_ready'); }, 200);
    } else {
      setTimeout(function () {
        ev.emit('conn.require_auth');
        if (st.idle) ev.emit('conn.qrcode_idle');
        else ev.emit('conn.auth_code_change', st.authCode);
      }, 0);
    }
  }

  async function poll() {
    try {
      var path = '/sim/page/events?device=' + encodeURIComponent(st.device) + '&after=' + st.seq;
      var data = await request('GET', path);
      if (data.generation !== st.generation) {
        var wasLinked = st.linked;
        await hello();
        if (wasLinked && !st.linked) {
          apply('conn.logout');
          apply('conn.require_auth');
          apply('conn.auth_code_change', st.authCode);
        }
      } else {
        for (var event of data.events) {
          st.seq = Math.max(st.seq, event.seq);
          apply(event.name, event.payload);
        }
      }
    } catch (e) {
      // server unreachable: keep trying
    }
    setTimeout(poll, POLL_MS);
  }

  function waitForAck(id, ack) {
    return new Promise(function (resolve) {
      var check = function () {
        if ((st.acks[id] || 0) >= ack) { resolve(st.acks[id]); return true; }
        return false;
      };
      if (!check()) st.ackWaiters.push(check);
    });
  }

  function requireLinked() {
    if (!st.linked) {
      throw new WPPError('not_ready', 'WhatsApp Web is not authenticated (no linked session)');
    }
  }

  // ----- chat -----------------------------------------------------------------------------
  var SEND_DEFAULTS = {detectMentioned: true, linkPreview: true, markIsRead: true, waitForAck: true, delay: 0};

  async function sendRaw(chatId, raw, options) {
    options = Object.assign({}, SEND_DEFAULTS, options || {});
    var wid = assertWid(chatId);
    requireLinked();
    if (options.delay) await sleep(options.delay);
    var msgId = newMessageId();
    var payload = Object.assign({to: wid._serialized, msgId: msgId}, raw);
    var first = await call('POST', '/sim/page/send', payload);
    var answer;
    if (first.status === 503) {
      // Connection lost: WhatsApp Web keeps the message (clock) and sends it when back online.
      var later = (async function () {
        for (;;) {
          await sleep(250);
          var result = await call('POST', '/sim/page/send', payload);
          if (result.status === 503) continue;
          if (result.status >= 400) throw errorFrom(result);
          return result.data;
        }
      })();
      if (!options.waitForAck) {
        later.catch(function () { return null; });
        var pendingId = ['true', wid._serialized, msgId].concat(wid.isGroup() ? [st.me] : []).join('_');
        return {id: pendingId, ack: 0, from: st.me, to: wid._serialized, sendMsgResult: null};
      }
      answer = await later;
    } else if (first.status >= 400) {
      throw errorFrom(first);
    } else {
      answer = first.data;
    }
    var accepted = answer.message;
    var id = accepted.id._serialized;
    var ack = accepted.ack;
    var sendMsgResult = null;
    if (options.waitForAck) {
      ack = await waitForAck(id, 1);
      sendMsgResult = {messageSendResult: 'OK'};
    } else {
      ack = st.acks[id] || 0;
    }
    return {id: answer.sentAs || id, ack: ack, from: accepted.from, to: accepted.to, sendMsgResult: sendMsgResult};
  }

  async function sendTextMessage(chatId, content, options) {
    return await sendRaw(chatId, {type: 'chat', body: content}, options);
  }

  function parseContent(content) {
    if (typeof content !== 'string') return null;
    var match = /^data:([^;,]*)((?:;[^;,]*)*?)(;base64)?,(.*)$/s.exec(content);
    if (match) {
      var data = match[3] ? match[4] : btoa(unescape(encodeURIComponent(decodeURIComponent(match[4]))));
      return {mimetype: match[1] || null, data: data};
    }
    if (/^[A-Za-z0-9+/]+={0,2}$/.test(content.replace(/\s/g, ''))) {
      return {mimetype: null, data: content.replace(/\s/g, '')};
    }
    return null;
  }

  function blobToBase64(blob) {
    return new Promise(function (resolve, reject) {
      var reader = new FileReader();
      reader.onload = function () { resolve(String(reader.result).split(',')[1] || ''); };
      reader.onerror = function () { reject(reader.error); };
      reader.readAsDataURL(blob);
    });
  }

  async function sendFileMessage(chatId, content, options) {
    options = Object.assign({type: 'auto-detect'}, options || {});
    var parsed;
    if (content instanceof Blob) {
      parsed = {mimetype: content.type || null, data: await blobToBase64(content)};
      if (!options.filename && content.name) options.filename = content.name;
    } else {
      parsed = parseContent(content);
    }
    if (!parsed) {
      throw 'invalid_data_url'; // wa-js convertToFile throws this bare string
    }
    var mimetype = options.mimetype || parsed.mimetype || 'application/octet-stream';
    var base = mimetype.split('/')[0];
    var type = options.type;
    if (type === 'auto-detect') {
      type = ['image', 'video', 'audio'].indexOf(base) >= 0 ? base : 'document';
    }
    if (type === 'audio' && options.isPtt) type = 'ptt';  // a voice note is a `ptt` message
    var filename = options.filename ||
      (parsed.mimetype ? base + '.' + mimetype.split('/')[1].split('+')[0] : 'unknown');
    var raw = {type: type, mimetype: mimetype, data: parsed.data, filename: filename,
      caption: options.caption === undefined ? null : options.caption};
    var result = await sendRaw(chatId, raw, options);
    return {id: result.id, ack: result.ack, sendMsgResult: result.sendMsgResult};
  }

  function chatKey(chatId) {
    return chatId && typeof chatId === 'object' ? chatId._serialized : String(chatId);
  }

  async function getMessages(chatId, options) {
    requireLinked();
    var data = await request('POST', '/sim/page/messages', {chatId: chatKey(chatId), options: options || {}});
    return data.messages.map(function (m) { return new MsgModel(m); });
  }

  async function markIsRead(chatId) {
    requireLinked();
    var data = await request('POST', '/sim/page/read', {chatId: chatKey(chatId)});
    return {wid: toWid(data.wid), unreadCount: data.unreadCount};
  }

  // Presence (wa-js src/chat/functions/markIsComposing.ts, markIsPaused.ts): the chat must be in
  // the store (assertGetChat: chat_not_found otherwise); with a duration, composing is marked paused
  // after it and the promise resolves then. A new composing cancels the pending pause.
  var pausedTimers = {};

  async function markIsComposing(chatId, duration) {
    requireLinked();
    var key = chatKey(chatId);
    await request('POST', '/sim/page/presence', {chatId: key, state: 'composing', duration: duration || null});
    if (pausedTimers[key]) {
      clearTimeout(pausedTimers[key]);
      delete pausedTimers[key];
    }
    if (duration) {
      await new Promise(function (resolve) {
        pausedTimers[key] = setTimeout(function () {
          delete pausedTimers[key];
          markIsPaused(key).then(resolve, resolve);
        }, duration);
      });
    }
  }

  async function markIsPaused(chatId) {
    requireLinked();
    await request('POST', '/sim/page/presence', {chatId: chatKey(chatId), state: 'paused'});
  }

  async function downloadMedia(id) {
    var key = id && typeof id === 'object' ? id._serialized : String(id);
    var response = await fetch(window.location.origin + '/sim/page/media?id=' + encodeURIComponent(key),
      {cache: 'no-store'});
    if (response.status >= 400) {
      var data = null;
      try { data = await response.json(); } catch (e) { data = null; }
      throw errorFrom({status: response.status, data: data});
    }
    return await response.blob();
  }

  // ----- group (wa-js src/group/functions) ------------------------------------------------
  async function groupCall(op, args) {
    requireLinked();
    var data = await request('POST', '/sim/page/group', {op: op, args: args});
    return data.result;
  }

  function groupWid(id) {
    var wid = assertWid(id);
    return wid._serialized;
  }

  function widList(ids) {
    return (Array.isArray(ids) ? ids : [ids]).map(function (id) { return assertWid(id)._serialized; });
  }

  function participantModels(list) {
    return list.map(function (p) { return {id: toWid(p.id), isAdmin: !!p.isAdmin, isSuperAdmin: !!p.isSuperAdmin}; });
  }

  // A GroupMetadataModel-like object: participants is a collection (getModelsArray, iAmAdmin).
  function metadataModel(m) {
    var models = participantModels(m.participants);
    var participants = {
      getModelsArray: function () { return models.slice(); },
      get length() { return models.length; },
      iAmAdmin: function () {
        return models.some(function (p) { return p.id.toString() === st.me && (p.isAdmin || p.isSuperAdmin); });
      },
    };
    return {id: toWid(m.id), subject: m.subject, desc: m.desc, owner: toWid(m.owner), creation: m.creation,
      announce: m.announce, restrict: m.restrict, size: m.size, isLidAddressingMode: m.isLidAddressingMode,
      participants: participants};
  }

  function chatModel(c) {
    return {id: toWid(c.id), name: c.name, isGroup: true, groupMetadata: metadataModel(c.groupMetadata)};
  }

  var group = {
    create: async function (groupName, participantsIds) {
      var result = await groupCall('create', [String(groupName), widList(participantsIds)]);
      return {gid: toWid(result.gid), participants: result.participants};
    },
    getAllGroups: async function () {
      return (await groupCall('getAllGroups', [])).map(chatModel);
    },
    getParticipants: async function (groupId) {
      return participantModels(await groupCall('getParticipants', [groupWid(groupId)]));
    },
    iAmAdmin: async function (groupId) { return await groupCall('iAmAdmin', [groupWid(groupId)]); },
    addParticipants: async function (groupId, ids) {
      return await groupCall('addParticipants', [groupWid(groupId), widList(ids)]);
    },
    removeParticipants: async function (groupId, ids) {
      await groupCall('removeParticipants', [groupWid(groupId), widList(ids)]);
    },
    promoteParticipants: async function (groupId, ids) {
      await groupCall('promoteParticipants', [groupWid(groupId), widList(ids)]);
    },
    demoteParticipants: async function (groupId, ids) {
      await groupCall('demoteParticipants', [groupWid(groupId), widList(ids)]);
    },
    getInviteCode: async function (groupId) { return await groupCall('getInviteCode', [groupWid(groupId)]); },
    revokeInviteCode: async function (groupId) { return await groupCall('revokeInviteCode', [groupWid(groupId)]); },
    leave: async function (groupId) { await groupCall('leave', [groupWid(groupId)]); },
    setSubject: async function (groupId, subject) {
      return await groupCall('setSubject', [groupWid(groupId), String(subject)]);
    },
    setDescription: async function (groupId, description) {
      return await groupCall('setDescription', [groupWid(groupId), String(description)]);
    },
  };

  // WPP.chat.find: a ChatModel, created for a person never messaged (findOrCreateLatestChat; its
  // id is the LID for a number in LID mode); only groups carry groupMetadata.
  async function findChat(chatId) {
    var wid = assertWid(chatId);
    requireLinked();
    if (!wid.isGroup()) {
      var found = await request('POST', '/sim/page/find', {chatId: wid._serialized});
      return {id: toWid(found.id), name: undefined, isGroup: false, groupMetadata: undefined};
    }
    var meta = await groupCall('find', [wid._serialized]);
    return {id: wid, name: meta.subject, isGroup: true, groupMetadata: metadataModel(meta)};
  }

  // ----- contact --------------------------------------------------------------------------
  async function queryWidExists(id) {
    var wid = assertWid(id);
    requireLinked();
    var data = await request('POST', '/sim/page/exists', {id: wid._serialized});
    if (!data.result) return null;
    var found = {wid: toWid(data.result.wid), biz: data.result.biz};
    if (data.result.lid) found.lid = toWid(data.result.lid);
    return found;
  }

  function plainWid(id) {
    if (!id) return undefined;
    var wid = toWid(id);
    return {id: wid.user, server: wid.server, _serialized: wid.toString()};
  }

  async function getPnLidEntry(id) {
    var wid = assertWid(id);
    requireLinked();
    var data = await request('POST', '/sim/page/pnlid', {id: wid._serialized});
    return {lid: plainWid(data.result.lid), phoneNumber: plainWid(data.result.phoneNumber), contact: undefined};
  }

  async function listContacts() {
    requireLinked();
    var data = await request('POST', '/sim/page/contacts', {});
    return data.contacts.map(function (c) {
      return {id: toWid(c.id), name: c.name || undefined, pushname: c.pushname || undefined,
        isMyContact: false, isBusiness: false, isUser: true, isGroup: toWid(c.id).isGroup()};
    });
  }

  // ----- conn -----------------------------------------------------------------------------
  var conn = {
    isAuthenticated: function () { return st.linked; },
    isRegistered: function () { return st.linked; },
    isMainReady: function () { return st.mainReady; },
    isMainLoaded: function () { return st.mainReady; },
    isIdle: function () { return !st.linked && st.idle; },
    isOnline: function () { return st.online; },
    isMultiDevice: function () { return true; },
    getAuthCode: async function () {
      if (st.linked || !st.authCode) return null;
      return Object.assign({}, st.authCode);
    },
    refreshQR: async function () {
      if (st.linked) return null;
      var wait = ev.waitFor('conn.auth_code_change');
      await request('POST', '/sim/page/qr/refresh', {});
      return (await wait)[0];
    },
    startLinkDeviceCodeForPhoneNumber: async function (phone) {
      try {
        var data = await request('POST', '/sim/page/pairing', {phone: phone});
        return data.code;
      } catch (e) {
        ev.emit('conn.link_code_error', e);
        throw e;
      }
    },
    genLinkDeviceCodeForPhoneNumber: function (phone) { return conn.startLinkDeviceCodeForPhoneNumber(phone); },
    getMyUserId: function () { return st.linked && st.me ? new Wid(st.me) : undefined; },
    getMyUserWid: function () { return conn.getMyUserId(); },
    logout: async function () {
      var done = ev.waitFor('conn.logout');
      await request('POST', '/sim/page/logout', {});
      await done;
      return true;
    },
  };

  var ACK = Object.freeze({
    MD_DOWNGRADE: -7, INACTIVE: -6, CONTENT_UNUPLOADABLE: -5, CONTENT_TOO_BIG: -4, CONTENT_GONE: -3,
    EXPIRED: -2, FAILED: -1, CLOCK: 0, SENT: 1, RECEIVED: 2, READ: 3, PLAYED: 4, PEER: 5,
  });

  var loader = {
    onInjected: function (cb, delay) { ev.on('loader.injected', function () { setTimeout(cb, delay || 0); }); },
    onReady: function (cb, delay) { ev.on('loader.ready', function () { setTimeout(cb, delay || 0); }); },
    onFullReady: function (cb, delay) { ev.on('loader.full_ready', function () { setTimeout(cb, delay || 0); }); },
  };

  var WPP = {
    __simulator: true,
    isInjected: true,
    isReady: false,
    isFullReady: false,
    loader: loader,
    ev: ev,
    on: ev.on.bind(ev),
    once: ev.once.bind(ev),
    off: ev.off.bind(ev),
    emit: ev.emit.bind(ev),
    onAny: ev.onAny.bind(ev),
    removeListener: ev.off.bind(ev),
    removeAllListeners: ev.removeAllListeners.bind(ev),
    waitFor: ev.waitFor.bind(ev),
    conn: conn,
    chat: {
      sendTextMessage: sendTextMessage,
      sendFileMessage: sendFileMessage,
      getMessages: getMessages,
      markIsRead: markIsRead,
      markIsComposing: markIsComposing,
      markIsPaused: markIsPaused,
      downloadMedia: downloadMedia,
      find: findChat,
    },
    group: group,
    contact: {queryWidExists: queryWidExists, queryExists: queryWidExists, list: listContacts,
      getPnLidEntry: getPnLidEntry},
    util: {WPPError: WPPError, createWid: function (id) { try { return assertWid(id); } catch (e) { return undefined; } }},
    whatsapp: {
      enums: {ACK: ACK, SendMsgResult: Object.freeze({OK: 'OK', ERROR_NETWORK: 'ERROR_NETWORK',
        ERROR_EXPIRED: 'ERROR_EXPIRED', ERROR_CANCELLED: 'ERROR_CANCELLED', ERROR_UPLOAD: 'ERROR_UPLOAD',
        ERROR_UNKNOWN: 'ERROR_UNKNOWN'})},
      Wid: Wid,
      MsgKey: MsgKey,
    },
  };
  window.WPP = WPP;

  (async function boot() {
    for (;;) {
      try {
        await hello();
        break;
      } catch (e) {
        await sleep(500);
      }
    }
    ev.emit('loader.injected');
    WPP.isReady = true;
    WPP.isFullReady = true;
    ev.emit('loader.ready');
    ev.emit('loader.full_ready');
    announce();
    setTimeout(poll, 0);
  })();
})();
