// TradeRelay dashboard: the copy buttons and the "send test signal" form. Everything
// else is server-rendered (htmx for the live parts).
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  const text = source.value !== undefined ? source.value : source.textContent;
  try {
    await navigator.clipboard.writeText(text);
  } catch (err) {
    // Clipboard API refused (plain HTTP on another host): select the text instead.
    if (source.select) source.select();
  }
  button.textContent = "Copied";
  setTimeout(() => { button.textContent = "Copy"; }, 1500);
});

// The test signal goes through the real webhook endpoint (same origin), exactly as
// TradingView would post it, and the page shows the answer the endpoint gave.
document.addEventListener("submit", async (event) => {
  const form = event.target.closest("form[data-test-signal]");
  if (!form) return;
  event.preventDefault();
  const output = document.getElementById(form.dataset.testSignal);
  const body = form.querySelector("textarea").value;
  output.textContent = "Sending…";
  try {
    const response = await fetch(form.action, {
      method: "POST", body, credentials: "omit",
      headers: { "Content-Type": "text/plain; charset=utf-8" },
    });
    const text = await response.text();
    let shown = text;
    try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (err) { /* not JSON */ }
    output.textContent = `HTTP ${response.status}\n${shown}`;
  } catch (err) {
    output.textContent = `The request failed: ${err}`;
  }
});
