/* The page's own UI (QR screen, chat list). It does not define WPP: that comes only from the
 * injected script, as on the real WhatsApp Web. */
(function () {
  'use strict';
  var DEVICE_KEY = 'wa-sim:device';
  var device = localStorage.getItem(DEVICE_KEY);
  if (!device) {
    var bytes = new Uint8Array(8);
    crypto.getRandomValues(bytes);
    device = Array.prototype.map.call(bytes, function (b) { return ('0' + b.toString(16)).slice(-2); }).join('');
    localStorage.setItem(DEVICE_KEY, device);
  }
  var first = true;
  var shownQr = null;
  var $ = function (id) { return document.getElementById(id); };

  function render(view) {
    var d = view.device;
    $('offline').hidden = view.online;
    $('landing').hidden = d.linked;
    $('app').hidden = !d.linked;
    if (!d.linked) {
      $('qr-img').hidden = !d.qr;
      $('qr-reload').hidden = !d.qrIdle;
      if (d.qr && d.qr !== shownQr) {
        shownQr = d.qr;
        $('qr-img').setAttribute('data-ref', d.qr);
        $('qr-img').src = '/sim/page/qr.png?device=' + encodeURIComponent(device) + '&t=' + Date.now();
      }
      $('pairing').hidden = !d.pairingCode;
      $('pairing-code').textContent = d.pairingCode ? d.pairingCode.slice(0, 4) + '-' + d.pairingCode.slice(4) : '';
      return;
    }
    shownQr = null;
    $('me').textContent = '+' + view.me;
    var list = $('chat-list');
    list.textContent = '';
    view.chats.forEach(function (chat) {
      var li = document.createElement('li');
      li.setAttribute('data-id', chat.id);
      var name = document.createElement('span');
      name.className = 'name';
      name.textContent = chat.name;
      if (chat.unread) {
        var badge = document.createElement('span');
        badge.className = 'unread';
        badge.textContent = chat.unread;
        name.appendChild(badge);
      }
      var last = document.createElement('span');
      last.className = 'last';
      last.textContent = (chat.fromMe ? '\u2713 ' : '') + chat.last;
      li.appendChild(name);
      li.appendChild(last);
      list.appendChild(li);
    });
  }

  function refresh() {
    var url = '/sim/page/view?device=' + encodeURIComponent(device) + (first ? '&load=1' : '');
    fetch(url, {cache: 'no-store'}).then(function (r) { return r.json(); }).then(function (view) {
      first = false;
      render(view);
    }).catch(function () { /* server away: retry */ }).then(function () { setTimeout(refresh, 500); });
  }

  $('qr-reload').addEventListener('click', function () {
    fetch('/sim/page/qr/refresh', {method: 'POST', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({device: device})});
  });
  refresh();
})();
