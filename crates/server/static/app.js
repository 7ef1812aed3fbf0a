// The send button's countdown: after a code is sent the server renders the
// button with data-resend-after (seconds); until then it stays disabled.
// Without JavaScript the server refuses an early resend with a message.
document.addEventListener("DOMContentLoaded", () => {
  const send = document.getElementById("send");
  if (!send) return;
  let left = parseInt(send.dataset.resendAfter || "0", 10);
  if (!(left > 0)) return;
  const label = send.textContent;
  const tick = () => {
    if (left <= 0) {
      send.disabled = false;
      send.textContent = label;
      return;
    }
    send.disabled = true;
    send.textContent = left + " " + send.dataset.resendLabel;
    left -= 1;
    setTimeout(tick, 1000);
  };
  tick();
});
