// The only script the pages load (CSP: script-src 'self'). Code pages work without it;
// it adds the countdown to the next 30-second code, keeps the code field tidy, and runs
// the passkey ceremony (WebAuthn) with the options the page carries.
(function () {
  "use strict";

  // The server writes clock times in UTC; the reader gets them in their own zone.
  Array.prototype.forEach.call(document.querySelectorAll("time[data-local-time]"), function (t) {
    var at = new Date(t.getAttribute("datetime"));
    if (!isNaN(at.getTime())) {
      t.textContent = at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    }
  });

  var countdown = document.getElementById("countdown");
  if (countdown) {
    // The server's clock, not the phone's or the browser's, decides the steps.
    var offset = Number(countdown.dataset.serverTime) - Date.now() / 1000;
    var period = Number(countdown.dataset.period) || 30;
    var seconds = countdown.querySelector(".seconds");
    var bar = countdown.querySelector("progress");
    var tick = function () {
      var now = Date.now() / 1000 + offset;
      var left = Math.ceil(period - (now % period));
      seconds.textContent = String(left);
      bar.value = left;
      countdown.classList.toggle("soon", left <= 5);
    };
    tick();
    window.setInterval(tick, 250);
  }

  // The sign-in's time limit: a warning two minutes before the end, and at the end the
  // forms close with a way to start again (the server refuses a late code anyway).
  var limit = document.getElementById("time-limit");
  if (limit) {
    var skew = Number(limit.dataset.serverTime) - Date.now() / 1000;
    var closesAt = Number(limit.dataset.closesAt);
    var warning = document.getElementById("time-warning");
    var moreTime = document.getElementById("more-time");
    var warned = false;
    var watch = function () {
      var left = closesAt - (Date.now() / 1000 + skew);
      if (left <= 0) {
        window.clearInterval(timer);
        if (moreTime) { moreTime.hidden = true; }
        closeForms(warning);
      } else if (left <= 120 && !warned) {
        warned = true;
        warning.textContent = "Less than 2 minutes left to finish this sign-in. " +
          "After that you will need to sign in again.";
        if (moreTime) { moreTime.hidden = false; }  // WCAG 2.2.1: more time, one action
      }
    };
    var timer = window.setInterval(watch, 1000);
    watch();
  }

  function closeForms(where) {
    Array.prototype.forEach.call(
      document.querySelectorAll("main input, main button"),
      function (field) { field.disabled = true; }
    );
    if (countdown) { countdown.hidden = true; }
    where.textContent = "This sign-in has closed. ";
    var again = document.createElement("a");
    again.href = "/";
    again.textContent = "Sign in again";
    again.id = "sign-in-again";
    where.appendChild(again);
    again.focus();  // the field that had the focus is closed
  }

  // A lock ends at a known time: the page comes back with its field then.
  var lock = document.querySelector("[data-reload-at]");
  var clock = document.querySelector("[data-server-time]");
  if (lock) {
    var ahead = clock ? Number(clock.dataset.serverTime) - Date.now() / 1000 : 0;
    var wait = (Number(lock.dataset.reloadAt) + 1 - ahead) * 1000 - Date.now();
    window.setTimeout(function () { window.location.reload(); }, Math.max(wait, 5000));
  }

  var codeList = document.getElementById("recovery-codes");
  if (codeList) { recoveryCodes(codeList); }

  function recoveryCodes(list) {
    var status = document.getElementById("codes-status");
    var codes = Array.prototype.map.call(list.querySelectorAll("code"), function (c) {
      return c.textContent.trim();
    });
    var asText = "Imageshop recovery codes (each works once):\n" + codes.join("\n") + "\n";
    document.getElementById("code-actions").hidden = false;
    document.getElementById("copy-codes").addEventListener("click", function () {
      if (!navigator.clipboard) {
        status.textContent = "This browser cannot copy here. Download them instead.";
        return;
      }
      navigator.clipboard.writeText(asText).then(function () {
        status.textContent = "Copied " + codes.length + " codes.";
      }, function () { status.textContent = "Copying was refused. Download them instead."; });
    });
    var download = document.getElementById("download-codes");
    download.addEventListener("click", function () {
      var link = document.createElement("a");
      link.href = URL.createObjectURL(new Blob([asText], { type: "text/plain" }));
      link.download = download.dataset.filename;
      document.body.appendChild(link);
      link.click();
      link.remove();
      window.setTimeout(function () { URL.revokeObjectURL(link.href); }, 1000);
      status.textContent = "Downloaded " + link.download + ".";
    });
  }

  var code = document.getElementById("code");
  if (code) {
    code.addEventListener("input", function () {
      var digits = code.value.replace(/\D/g, "").slice(0, code.maxLength);
      if (digits !== code.value) { code.value = digits; }
    });
  }

  var passkeyForm = document.getElementById("passkey-form");
  if (passkeyForm) { passkeys(passkeyForm); }

  function passkeys(form) {
    var start = document.getElementById("passkey-start");
    var answer = document.getElementById("passkey-credential");
    var error = document.getElementById("passkey-error");
    var registering = form.dataset.ceremony === "registration";
    var say = function (message) {
      error.textContent = message;
      error.hidden = false;
      start.disabled = false;
      start.focus();
    };
    if (!window.PublicKeyCredential || !navigator.credentials) {
      say("This browser cannot use passkeys. Use another browser, or an authenticator app.");
      start.disabled = true;
      return;
    }
    start.addEventListener("click", function () {
      start.disabled = true;
      error.hidden = true;
      var options = JSON.parse(form.dataset.options);
      var ceremony = registering
        ? navigator.credentials.create({ publicKey: creationOptions(options) })
        : navigator.credentials.get({ publicKey: requestOptions(options) });
      ceremony.then(function (credential) {
        answer.value = JSON.stringify(credentialJSON(credential));
        form.submit();
      }, function (problem) { say(explain(problem, registering)); });
    });
  }

  // What the browser's refusal means for the user (WebAuthn 5.1.3, 5.1.4).
  function explain(problem, registering) {
    var name = problem && problem.name;
    if (name === "NotAllowedError") {
      return "The passkey request was cancelled or timed out. Select the button to try again.";
    }
    if (name === "InvalidStateError" && registering) {
      return "This device already holds a passkey for your account. Use another device, " +
        "or sign in with the passkey you have.";
    }
    if (name === "SecurityError") {
      return "Passkeys do not work at this address. Ask your administrator to check the " +
        "organization's passkey settings.";
    }
    if (name === "NotSupportedError") {
      return "This device cannot create a passkey of a kind this site accepts.";
    }
    return "The passkey did not work (" + (name || "unknown error") + "). Try again.";
  }

  // The JSON forms (WebAuthn Level 3), where the browser has them; by hand otherwise.
  function creationOptions(json) {
    if (PublicKeyCredential.parseCreationOptionsFromJSON) {
      return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    }
    var options = Object.assign({}, json);
    options.challenge = bytes(json.challenge);
    options.user = Object.assign({}, json.user, { id: bytes(json.user.id) });
    options.excludeCredentials = (json.excludeCredentials || []).map(descriptor);
    return options;
  }

  function requestOptions(json) {
    if (PublicKeyCredential.parseRequestOptionsFromJSON) {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    var options = Object.assign({}, json);
    options.challenge = bytes(json.challenge);
    options.allowCredentials = (json.allowCredentials || []).map(descriptor);
    return options;
  }

  function descriptor(json) { return Object.assign({}, json, { id: bytes(json.id) }); }

  function credentialJSON(credential) {
    if (typeof credential.toJSON === "function") { return credential.toJSON(); }
    var response = credential.response;
    var json = {
      id: credential.id,
      rawId: text(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: { clientDataJSON: text(response.clientDataJSON) }
    };
    if (response.attestationObject) {
      json.response.attestationObject = text(response.attestationObject);
      json.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      json.response.authenticatorData = text(response.authenticatorData);
      json.response.signature = text(response.signature);
      if (response.userHandle) { json.response.userHandle = text(response.userHandle); }
    }
    return json;
  }

  function bytes(base64url) {
    var base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(base64 + "===".slice((base64.length + 3) % 4));
    return Uint8Array.from(raw, function (c) { return c.charCodeAt(0); }).buffer;
  }

  function text(buffer) {
    var raw = String.fromCharCode.apply(null, new Uint8Array(buffer));
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
})();
