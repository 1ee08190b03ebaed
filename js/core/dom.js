// Writes to a view's DOM that happen only when they change something. A view redraws on
// every state change and media event (~15 times as a camera starts), and an equal write
// is not free: `textContent` replaces the text node and an attribute write is a mutation,
// which the page restyles and lays out again and the host's MutationObservers hear, on
// the main thread an arriving answer waits for. Measured on a camera's start in
// JupyterLab: 84 mutations in the view with plain writes, 17-22 with these.

/**
 * @param {HTMLElement} el
 * @param {string} value
 */
export function setText(el, value) {
  if (el.textContent !== value) el.textContent = value;
}

/**
 * @param {HTMLElement} el
 * @param {string} key a `data-*` attribute, camelCased as `dataset` names it
 * @param {string} value
 */
export function setData(el, key, value) {
  if (el.dataset[key] !== value) el.dataset[key] = value;
}

/**
 * @param {HTMLElement} el
 * @param {boolean} value
 */
export function setHidden(el, value) {
  if (el.hidden !== value) el.hidden = value;
}

/**
 * @param {HTMLSelectElement | HTMLButtonElement | HTMLInputElement} el
 * @param {boolean} value
 */
export function setDisabled(el, value) {
  if (el.disabled !== value) el.disabled = value;
}
