// The P&L pictures (Chart.js, vendored; loaded only on the pages that draw them): each
// <canvas data-chart="line|bar" data-source="<json_script id>" data-series="<key>"> draws
// one series of that JSON against its "days". The numbers are also in a table on the
// page, for screen readers and without JavaScript.
document.addEventListener("DOMContentLoaded", () => {
  if (typeof Chart === "undefined") return;
  document.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
    const source = document.getElementById(canvas.dataset.source);
    if (!source) return;
    const data = JSON.parse(source.textContent);
    const values = data[canvas.dataset.series];
    const bar = canvas.dataset.chart === "bar";
    new Chart(canvas, {
      type: bar ? "bar" : "line",
      data: {
        labels: data.days,
        datasets: [{
          label: canvas.dataset.label,
          data: values,
          // A losing day in red, a winning one in green; the line in the brand blue.
          backgroundColor: bar ? values.map((v) => (v < 0 ? "#b3261e" : "#1b7f3b")) : "#1f5fbf",
          borderColor: "#1f5fbf",
          pointRadius: values.length > 40 ? 0 : 3,
          tension: 0,
        }],
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        plugins: { legend: { display: false } },
        scales: { y: { beginAtZero: bar } },
      },
    });
  });
});
