// The status page's actions. Each one is a call to the same /v1 endpoint a script would use; the page's
// anti-forgery token goes with every call (a session cookie alone is not enough to change anything).
(() => {
  'use strict';
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? '';
  const message = document.getElementById('message');
  const $ = id => document.getElementById(id);
  const remembered = 'actorrefresh.message';
  let busy = false;

  function say(text, ok) {
    message.textContent = text;
    message.className = ok ? 'ok' : 'error';
  }

  // A result survives the reload that shows its effect.
  function done(text) {
    sessionStorage.setItem(remembered, text);
    location.reload();
  }

  const kept = sessionStorage.getItem(remembered);
  if (kept) {
    sessionStorage.removeItem(remembered);
    say(kept, true);
  }

  async function call(path, body) {
    const init = { method: 'POST', credentials: 'same-origin', headers: { 'X-CSRF-TOKEN': csrf } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    let json = null;
    try { json = await response.json(); } catch { /* an empty answer */ }
    if (!response.ok) throw new Error(json?.detail ?? json?.title ?? `HTTP ${response.status}`);
    return { status: response.status, json };
  }

  const account = id => '/v1/accounts/' + encodeURIComponent(id);
  const login = id => '/v1/logins/' + encodeURIComponent(id);

  document.addEventListener('click', async event => {
    const button = event.target.closest('button[data-action]');
    if (!button || busy) return;
    const id = button.dataset.account;
    busy = true;
    button.disabled = true;
    try {
      switch (button.dataset.action) {
        case 'refresh': await call(account(id) + '/refresh'); done(`${id}: refreshed`); break;
        case 'unblock': await call(account(id) + '/unblock'); done(`${id}: unblocked`); break;
        case 'login': await startLogin(id, null, false); break;
      }
    } catch (error) {
      say(`${id}: ${error.message}`, false);
    } finally {
      button.disabled = false;
      busy = false;
    }
  });

  // A login: the provider's page and the pasted code, or a device login's user code while the broker polls.
  async function startLogin(id, provider, device) {
    const body = {};
    if (provider) body.provider = provider;
    if (device) body.device = true;
    const { json } = await call(account(id) + '/login', body);
    const dialog = $('login-dialog');
    $('login-account').textContent = id;
    $('login-error').textContent = '';
    $('login-code').value = '';
    const code = Boolean(json.authorizeUrl);
    $('login-link').hidden = !code;
    $('login-code-label').hidden = !code;
    $('login-submit').hidden = !code;
    $('login-device').hidden = code;
    if (code) {
      $('login-url').href = json.authorizeUrl;
    } else {
      $('login-user-code').textContent = json.userCode;
      $('login-verification').href = json.verificationUriComplete ?? json.verificationUri;
      $('login-verification').textContent = json.verificationUri;
    }
    dialog.dataset.login = json.loginId;
    dialog.dataset.account = id;
    $('add-dialog')?.close();
    dialog.showModal();
    if (!code) waitForDevice(dialog, json.loginId, id);
  }

  async function waitForDevice(dialog, loginId, id) {
    try {
      while (dialog.open && dialog.dataset.login === loginId) {
        const { status, json } = await call(login(loginId), {});
        if (status !== 202) {
          done(`${id}: logged in (${json.state})`);
          return;
        }
      }
    } catch (error) {
      $('login-error').textContent = error.message;
    }
  }

  $('login-form')?.addEventListener('submit', async event => {
    event.preventDefault();
    const dialog = $('login-dialog');
    try {
      const { json } = await call(login(dialog.dataset.login), { code: $('login-code').value.trim() });
      done(`${dialog.dataset.account}: logged in (${json.state})`);
    } catch (error) {
      $('login-error').textContent = error.message;
    }
  });
  $('login-cancel')?.addEventListener('click', () => {
    const dialog = $('login-dialog');
    delete dialog.dataset.login;
    dialog.close();
  });

  const how = () => document.querySelector('input[name="add-how"]:checked')?.value ?? 'login';
  document.querySelectorAll('input[name="add-how"]').forEach(radio =>
    radio.addEventListener('change', () => { $('add-token-label').hidden = how() !== 'token'; }));
  $('add-open')?.addEventListener('click', () => { $('add-error').textContent = ''; $('add-dialog').showModal(); });
  $('add-cancel')?.addEventListener('click', () => $('add-dialog').close());
  $('add-form')?.addEventListener('submit', async event => {
    event.preventDefault();
    const id = $('add-id').value.trim();
    const provider = $('add-provider').value;
    try {
      if (how() === 'token') {
        await call('/v1/accounts', { id, provider, refreshToken: $('add-token').value.trim() });
        $('add-token').value = '';
        done(`${id}: added`);
      } else {
        await startLogin(id, provider, how() === 'device');
      }
    } catch (error) {
      $('add-error').textContent = error.message;
    }
  });

  // Reload for fresh states, but never under a person filling in a dialog or waiting for an action.
  const seconds = Number(document.body.dataset.reload || 0);
  if (seconds > 0) {
    const tick = () => {
      if (busy || document.querySelector('dialog[open]')) setTimeout(tick, seconds * 1000);
      else location.reload();
    };
    setTimeout(tick, seconds * 1000);
  }
})();
