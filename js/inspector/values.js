// Coercions for trait values the Inspector draws. The kernel computes every trait, but a
// view must survive a malformed one (an old kernel, a bug): each helper turns anything
// into the shape asked for, never throwing.

/** @param {unknown} v @returns {v is number} */
export const isNum = (v) => typeof v === "number" && Number.isFinite(v);
/** @param {unknown} v @returns {Record<string, any>} a plain object, or {} */
export const obj = (v) => (v && typeof v === "object" && !Array.isArray(v) ? /** @type {any} */ (v) : {});
/** @param {unknown} v @returns {any[]} an array, or [] */
export const arr = (v) => (Array.isArray(v) ? v : []);
/** @param {unknown} v @returns {string} "" for null and undefined */
export const str = (v) => (v === null || v === undefined ? "" : String(v));
