"""A fake WhatsApp Web on loopback, so tests and the demo run without a phone or the internet.

Run it with ``python -m tests.simulator --port 8099`` and point the driver at
``WHATSAPP_URL=http://127.0.0.1:8099/`` and ``WA_SCRIPT_PATH=tests/simulator/static/wa-sim.js``.
The page does not define ``WPP``; injecting ``static/wa-sim.js`` with ``execute_script`` does, with
the wa-js 4.6.0 subset of DESIGN.md section 2 (same names, arguments and shapes). ``/sim/...`` is the
control API that plays the phone and WhatsApp's servers (see ``server.py``).

What the driver must know
-------------------------
Readiness. ``WPP.isReady`` turns true once the script has greeted the server (a few ms after
injection); ``WPP.loader.onReady(cb)`` only fires for listeners registered before that, as in wa-js.
For a stored session ``conn.main_ready`` fires ~200 ms after ``isReady`` (``isMainReady()`` flips at
the same time); for a fresh one ``conn.require_auth`` and ``conn.auth_code_change`` fire at once.
Subscribe, then read ``isAuthenticated()``/``isMainReady()``: events emitted before you subscribed
are gone, as in wa-js.

Events (payloads as in wa-js; Wids and message keys are objects with ``_serialized``/``toString()``):
  - ``conn.auth_code_change``: ``{type: 'multidevice', ref, staticKeyPair, identityKeyPair, secretKey,
    fullCode}`` on every QR rotation, or ``null`` when the device gets linked (wa-js emits null too).
  - ``conn.qrcode_idle`` (no payload) after ``--qr-max-rotations`` rotations; ``getAuthCode()`` then
    resolves null until ``WPP.conn.refreshQR()`` (or ``POST /sim/qr/refresh``, or the page's reload
    button) starts a new round.
  - ``conn.link_code_change`` (8-character code, e.g. ``K7QW2MXD``; the page shows it as
    ``K7QW-2MXD``) from ``startLinkDeviceCodeForPhoneNumber``; ``conn.link_code_error`` (an Error) on
    failure. Codes do not expire in the simulator, so ``conn.link_code_expired`` never fires.
  - ``conn.authenticated`` then ``conn.main_ready`` after a scan / pairing confirmation.
  - ``conn.logout`` then ``conn.require_auth`` then ``conn.auth_code_change`` (a new QR) after a
    phone-side logout (``POST /sim/logout``) or ``WPP.conn.logout()``. The real page reloads itself
    at that point (so wa-js must be injected again); the simulator page stays, and resets
    ``isMainReady()`` to false.
  - ``conn.online`` (boolean): false when ``/sim/drop`` starts, true when it ends. No other event is
    delivered while offline; those produced meanwhile arrive after ``conn.online`` true.
  - ``chat.new_message``: a MsgModel-like object: ``id`` (MsgKey ``{fromMe: false, remote: Wid, id,
    participant?, _serialized}``, e.g. ``false_393331234567@c.us_3EB0...``; in groups
    ``false_<group>@g.us_<id>_<author>@c.us``), ``from`` (Wid of the chat), ``to`` (Wid of me),
    ``author`` (Wid, groups only), ``body``, ``type`` ('chat', 'image', 'document', ...), ``t`` (unix
    seconds), ``notifyName``, ``isGroupMsg``, ``self: 'in'``, ``ack``, ``isNewMsg``, media fields
    ``caption``, ``filename``, ``mimetype``, ``size``; ``serialize()`` gives a plain copy. There is no
    top-level ``fromMe`` (wa-js neither): use ``id.fromMe``.
  - ``chat.msg_ack_change``: ``{ack, chat: Wid, sender?: Wid (groups), ids: [MsgKey]}`` for ack 1
    (server), 2 (delivered), 3 (read), 4 (played). Acks only go up with auto acks; ``/sim/ack`` sets
    any value 0..4 (0 is stored but, as in wa-js, never emitted).

Sends (``chat.sendTextMessage``/``sendFileMessage``):
  - Resolve, with the default ``waitForAck: true``, when the server ack (1) arrives:
    ``{id, ack, from, to, sendMsgResult: {messageSendResult: 'OK'}}`` for text and
    ``{id, ack, sendMsgResult}`` for files (wa-js's sendFileMessage returns no from/to). With
    ``waitForAck: false``: ``ack: 0`` and ``sendMsgResult: null``.
  - Connection dropped: like WhatsApp Web, the message is kept and sent when the connection is
    back; with ``waitForAck`` the promise stays pending until then (the driver's timeout decides).
  - Rejections are WPPError-like ``Error`` objects with a ``code``:
      ``invalid_wid``     the chat id is not a wid (wa-js assertWid);
      ``chat_not_found``  number declared not on WhatsApp (``/sim/not-on-whatsapp``); wa-js throws
                          this InvalidChat error (message ``Chat not found for <id>``, extra ``id``)
                          when it cannot find the chat;
      ``rate_overlimit``  simulated rate limiting (``/sim/fail-next`` error ``rate_limit``);
      ``blocked``         simulated account block (``/sim/fail-next`` error ``blocked``);
      ``not_ready``       no linked session (the real page would be on its QR screen);
      ``'invalid_data_url'`` is thrown as a bare string by sendFileMessage for bad content (as wa-js).
  - ``sendFileMessage`` takes a data URL, base64 or a Blob; ``{type: 'audio', isPtt: true}`` sends a
    voice note (a ``ptt`` message), as wa-js does.
    ``rate_overlimit`` and ``blocked`` are simulator inventions: real WhatsApp gives no such codes.
  - Auto acks (default ``{serverMs: 50, deliveredMs: 500, readMs: 1500}``, measured from the send):
    ack 1, 2, 3. ``autoAck: null`` makes ack 1 immediate and leaves 2 and 3 to ``/sim/ack``. A delay
    may be ``[low, high]``: drawn per message, so a delivered or read ack can come before the server
    ack (ack 1 is then never emitted: acks only go up) and before the send call returns.

Reads: ``chat.getMessages`` (oldest first, MsgModel-like), ``chat.markIsRead`` ->
``{wid: Wid, unreadCount}``, ``chat.downloadMedia`` -> Blob (``msg_not_found`` /
``message_not_contains_media`` errors), ``contact.queryWidExists`` -> ``{wid, biz}`` or null
(``queryExists`` alias), ``contact.list`` -> ``[{id: Wid, pushname, name, ...}]``. Unknown chats
raise ``chat_not_found`` as wa-js's assertGetChat does; ``chat.find(id)`` creates a person's chat
(its id is the ``@lid`` one for a number in LID mode), as wa-js's findOrCreateLatestChat does.

Presence: ``chat.markIsComposing(chatId, duration?)`` -> ``Promise<void>`` (a chat in the store only:
``chat_not_found`` otherwise); with a duration (ms) it calls ``chat.markIsPaused(chatId)`` after it
and resolves then; a new ``markIsComposing`` cancels the pending pause. The server records each
"typing..." period as the contact sees it: ``GET /sim/composing`` (``?chat=<id>``) ->
``[{chatId, device, startedAt, endedAt, durationMs}]`` (times in epoch seconds, as ``receivedAt`` in
``/sim/messages``; ``endedAt`` null while composing), to lay beside the arrival log.

Groups (``tests/simulator/groups.py``; wa-js ``src/group/functions/``): ``WPP.group.create(name, ids)`` ->
``{gid: Wid, participants: {wid: {wid, code, invite_code, invite_code_exp}}}`` (``participant_not_exists``
for a number not on WhatsApp), ``getAllGroups()`` -> ChatModel-like ``{id, name, groupMetadata}``,
``getParticipants(gid)`` -> ``[{id: Wid, isAdmin, isSuperAdmin}]``, ``iAmAdmin``, ``addParticipants`` ->
``{wid: {wid, code: 200|403|409|421, message, ...}}``, ``remove/promote/demoteParticipants`` -> undefined,
``getInviteCode`` / ``revokeInviteCode`` -> code, ``leave``, ``setSubject`` / ``setDescription`` -> true;
``WPP.chat.find(gid).groupMetadata`` (``id, subject, desc, owner, creation, announce, restrict, size,
isLidAddressingMode, participants`` with ``getModelsArray()`` and ``iAmAdmin()``). Errors as wa-js:
``chat_not_found``, ``not_a_group``, ``group_you_are_not_admin``, ``group_participant_not_found``,
``not_valid_group_participants``, ``group_participant_is_already_(not_)a_group_admin``,
``you_are_not_allowed_set_group_subject`` / ``_description``. Members of a number in LID mode are
``<lid>@lid``. Every change emits ``group.participant_changed`` ``{author, authorPushName, groupId, action
(add, remove, promote, demote, leaver, join), operation, participants: [id]}`` to linked pages.

Control API (JSON; bad input -> 400): ``GET /sim/state``, ``POST /sim/scan`` (links the unlinked page
that polled most recently; ``{"qr": fullCode}`` or ``{"device": id}`` picks one; 409 if no QR is
shown), ``/sim/pairing/confirm``, ``/sim/qr/refresh`` (new QR for the page on screen), ``/sim/incoming``,
``/sim/ack``, ``/sim/config``, ``/sim/not-on-whatsapp``, ``/sim/fail-next``, ``/sim/drop``,
``/sim/logout``, ``/sim/lid``, ``/sim/lid/reveal``, ``GET``/``POST /sim/groups`` (list; a group someone
else created with us in it), ``/sim/groups/change`` (a member's change from their phone),
``/sim/groups/approval`` (numbers whose addition answers 421), ``GET /sim/messages``,
``GET /sim/composing``, ``GET /sim/events`` (every incoming message and ack handed to a
page: ``{seq, name, ids, ack, at, pageAt}``, ``at`` when it was queued, ``pageAt`` when the page fetched
it and emitted it to its listeners; ``?after=<seq>``), ``/sim/reset``. ``tests/fixtures/simulator.py`` wraps them.

Persistence: the browser keeps a device id in the page origin's localStorage (``wa-sim:device``), the
server remembers which device ids are linked. A new Chromium on the same ``--user-data-dir`` comes
back linked without a scan; ``/sim/logout`` or ``/sim/reset`` forgets the link.
"""
