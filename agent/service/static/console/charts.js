// Small SVG charts for the console: bars and lines, no library (the console must work
// offline and load nothing from elsewhere). Both draw into an element, replacing it.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const CHART = { width: 420, height: 180, left: 48, right: 10, top: 10, bottom: 34 };
const PALETTE = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2"];

function svgElement(name, attributes) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, value);
  return node;
}

function frame(target, maxValue, yLabel) {
  const svg = svgElement("svg", {
    viewBox: `0 0 ${CHART.width} ${CHART.height}`,
    role: "img",
    "aria-label": yLabel,
  });
  const plotHeight = CHART.height - CHART.top - CHART.bottom;
  for (const fraction of [0, 0.5, 1]) {
    const y = CHART.top + plotHeight * (1 - fraction);
    svg.appendChild(svgElement("line", {
      x1: CHART.left, x2: CHART.width - CHART.right, y1: y, y2: y, class: "grid",
    }));
    const label = svgElement("text", { x: CHART.left - 6, y: y + 4, "text-anchor": "end", class: "tick" });
    label.textContent = formatNumber(maxValue * fraction);
    svg.appendChild(label);
  }
  target.replaceChildren(svg);
  return svg;
}

function formatNumber(value) {
  if (value === 0) return "0";
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 1) return value.toFixed(1);
  return value.toPrecision(2);
}

function emptyChart(target, message) {
  const note = document.createElement("p");
  note.className = "empty";
  note.textContent = message;
  target.replaceChildren(note);
}

// bars: [{label, value}]
function drawBars(target, bars, yLabel) {
  // All zero is drawn (an arm that costs nothing shows as $0), only no bars is empty.
  if (!bars.length) return emptyChart(target, "no data yet");
  const maxValue = Math.max(...bars.map((bar) => bar.value)) || 1;
  const svg = frame(target, maxValue, yLabel);
  const plotWidth = CHART.width - CHART.left - CHART.right;
  const plotHeight = CHART.height - CHART.top - CHART.bottom;
  const slot = plotWidth / bars.length;
  bars.forEach((bar, index) => {
    const height = (plotHeight * bar.value) / maxValue;
    const x = CHART.left + slot * index + slot * 0.15;
    svg.appendChild(svgElement("rect", {
      x, y: CHART.top + plotHeight - height, width: slot * 0.7, height,
      fill: PALETTE[index % PALETTE.length], class: "bar",
    }));
    const label = svgElement("text", {
      x: x + slot * 0.35, y: CHART.height - CHART.bottom + 14, "text-anchor": "middle", class: "tick",
    });
    label.textContent = bar.label;
    svg.appendChild(label);
  });
}

// series: [{label, points: [number]}], drawn over a shared x axis (task order)
function drawLines(target, series, yLabel) {
  const longest = Math.max(0, ...series.map((line) => line.points.length));
  if (longest < 2) return emptyChart(target, "no data yet");
  const values = series.flatMap((line) => line.points).filter((value) => Number.isFinite(value));
  const maxValue = Math.max(...values, 0) || 1;
  const svg = frame(target, maxValue, yLabel);
  const plotWidth = CHART.width - CHART.left - CHART.right;
  const plotHeight = CHART.height - CHART.top - CHART.bottom;
  series.forEach((line, index) => {
    const coordinates = line.points
      .map((value, position) => [position, value])
      .filter(([, value]) => Number.isFinite(value))
      .map(([position, value]) => [
        CHART.left + (plotWidth * position) / (longest - 1),
        CHART.top + plotHeight * (1 - value / maxValue),
      ]);
    if (!coordinates.length) return;
    svg.appendChild(svgElement("polyline", {
      points: coordinates.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" "),
      fill: "none", stroke: PALETTE[index % PALETTE.length], "stroke-width": 2, class: "line",
    }));
    const key = svgElement("text", {
      x: CHART.left + 4 + 90 * index, y: CHART.height - 6, fill: PALETTE[index % PALETTE.length], class: "tick",
    });
    key.textContent = line.label;
    svg.appendChild(key);
  });
}

window.charts = { drawBars, drawLines };
