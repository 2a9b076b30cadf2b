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

// Approval deadlines count down on the page; the server decides expiry, this only shows it.
setInterval(() => {
  document.querySelectorAll("[data-countdown]").forEach((el) => {
    const left = Math.max(0, Number(el.dataset.countdown) - 1);
    el.dataset.countdown = left;
    el.textContent = left > 0 ? `expires in ${left} s` : "expired";
  });
}, 1000);

// Signals per day on the home page (Chart.js, vendored; loaded only there). The numbers
// are also in the table beside the chart, for screen readers and without JavaScript.
document.addEventListener("DOMContentLoaded", () => {
  const canvas = document.getElementById("signals-chart");
  const source = document.getElementById("signals-per-day");
  if (!canvas || !source || typeof Chart === "undefined") return;
  const data = JSON.parse(source.textContent);
  const series = [
    ["accepted", "Accepted", "#1f5fbf"],
    ["rejected", "Rejected", "#b3261e"],
    ["duplicate", "Duplicate", "#8a96a8"],
  ];
  new Chart(canvas, {
    type: "bar",
    data: {
      labels: data.days,
      datasets: series.map(([key, label, color]) => ({ label, data: data[key], backgroundColor: color })),
    },
    options: {
      responsive: true, maintainAspectRatio: false, animation: false,
      scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
    },
  });
});
