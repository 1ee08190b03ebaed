// The Charts tab: one small time-series chart per metric, both sides on one chart
// (charts.js draws them). Trait `charts`: the kernel's list of chart specs.

import { createChartGrid } from "./charts.js";

export const LABEL = "Charts";
/** The trait this tab draws. */
export const TRAIT = "charts";

/**
 * Build the charts inside `el` (its panel).
 * @type {import("./tab.js").MountTab}
 */
export function mount(el, ctx) {
  const grid = createChartGrid(ctx.doc);
  el.appendChild(grid.el);

  return {
    update: (value) => grid.update(value),
    destroy() {
      el.replaceChildren();
    },
  };
}
