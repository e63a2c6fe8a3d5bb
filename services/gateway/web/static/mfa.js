// The only script the pages load (CSP: script-src 'self'). Pages work without it;
// it adds the countdown to the next 30-second code and keeps the code field tidy.
(function () {
  "use strict";

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

  var code = document.getElementById("code");
  if (code) {
    code.addEventListener("input", function () {
      var digits = code.value.replace(/\D/g, "").slice(0, 6);
      if (digits !== code.value) { code.value = digits; }
    });
  }
})();
