// Charts, loaded only when the statistics view opens: Chart.js, registered with just the
// pieces a bar and a line chart need, so that the rest stays out of the bundle.
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from "chart.js";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, LineController, LineElement, PointElement, Tooltip);

/** Draws `values` against `labels` on `canvas` as a bar or line chart; the chart, to destroy. */
export function draw(canvas, { kind, labels, label, values }) {
  return new Chart(canvas, {
    type: kind,
    data: {
      labels,
      datasets: [{ label, data: values, backgroundColor: "#2c5ea8", borderColor: "#2c5ea8", tension: 0.2 }],
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      plugins: { legend: { display: false } },
      scales: { x: { ticks: { autoSkip: true, maxRotation: 60 } }, y: { beginAtZero: true } },
    },
  });
}
