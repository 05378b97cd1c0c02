/**
 * A minimal `<dialog>` modal API for jsdom, which has `HTMLDialogElement` and its `open` attribute
 * but no `showModal()` / `close()` / `requestClose()` and no Esc → `cancel`. Import it first in a
 * jsdom test that opens a kit dialog. It models only what those tests need: the `open` attribute,
 * a stack of modals, Esc firing a cancelable `cancel` on the top one (then `close` unless
 * prevented), and `close` fired a task after `close()`, as browsers do. Top layer, inertness and focus restoration are the browser's: they are tested in
 * Chromium (stories/upgrade-prompt.stories.tsx, test/e2e/demo.test.ts), never here.
 *
 * @example
 * import '../../../test/dom/dialog-polyfill.ts';
 */
const proto = globalThis.HTMLDialogElement?.prototype;

if (proto && typeof proto.showModal !== 'function') {
  const modals: HTMLDialogElement[] = [];
  proto.show = function show(this: HTMLDialogElement) {
    this.setAttribute('open', '');
  };
  proto.showModal = function showModal(this: HTMLDialogElement) {
    if (this.hasAttribute('open')) return;
    this.setAttribute('open', '');
    modals.push(this);
  };
  proto.close = function close(this: HTMLDialogElement, returnValue?: string) {
    if (!this.hasAttribute('open')) return;
    this.removeAttribute('open');
    if (returnValue !== undefined) this.returnValue = returnValue;
    modals.splice(modals.indexOf(this) >>> 0, 1);
    // As the platform does: `close` fires a task later, not inside close().
    setTimeout(() => this.dispatchEvent(new Event('close')), 0);
  };
  proto.requestClose = function requestClose(this: HTMLDialogElement, returnValue?: string) {
    if (!this.hasAttribute('open')) return;
    if (this.dispatchEvent(new Event('cancel', { cancelable: true }))) this.close(returnValue);
  };
  document.addEventListener('keydown', (event) => {
    const top = modals.filter((d) => d.isConnected).at(-1);
    if (event.key === 'Escape' && !event.defaultPrevented && top) top.requestClose();
  });
}
