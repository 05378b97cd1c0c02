'use client';
import { useEffect, useRef, type ComponentProps, type KeyboardEvent, type MouseEvent, type SyntheticEvent } from 'react';
import { cn } from '../cn.ts';

/** Props of {@link Dialog}. */
export interface DialogProps extends Omit<ComponentProps<'dialog'>, 'open'> {
  /** Whether the dialog is shown. Nothing renders when closed. */
  open: boolean;
  /** Called with `false` on Esc (the dialog's `cancel` event), a click on the backdrop, or a close button. */
  onOpenChange: (open: boolean) => void;
}

const FOCUSABLE =
  'a[href],button:not([disabled]),input:not([disabled]),select:not([disabled]),textarea:not([disabled]),[tabindex]:not([tabindex="-1"])';

// Dialogs open at once (nested), so the page's scroll is locked until the last one closes.
let scrollLocks = 0;
let restoreScroll: (() => void) | null = null;

function lockScroll(): () => void {
  if (scrollLocks++ === 0) {
    const html = document.documentElement;
    const { overflow, scrollbarGutter } = html.style;
    // Keep the scrollbar's room when there is one, so the page does not shift sideways.
    if (window.innerWidth > html.clientWidth) html.style.scrollbarGutter = 'stable';
    html.style.overflow = 'hidden';
    restoreScroll = () => {
      html.style.overflow = overflow;
      html.style.scrollbarGutter = scrollbarGutter;
    };
  }
  return () => {
    if (--scrollLocks === 0) {
      restoreScroll?.();
      restoreScroll = null;
    }
  };
}

/**
 * A modal dialog (internal primitive) on the platform's `<dialog>`: `showModal()` puts it in the top
 * layer and makes the rest of the page inert (no focus, no clicks, hidden from assistive tech), the
 * page's scroll is locked while it is open, focus moves to its first control and Tab / Shift+Tab
 * cycle inside it, Esc (the `cancel` event) and a click on the backdrop close it, and focus returns
 * to the element that had it when the dialog opened. Rendered in place (no portal), so it
 * server-renders. Pass `aria-labelledby` / `aria-describedby`.
 *
 * @example
 * <Dialog open={open} onOpenChange={setOpen} aria-labelledby="t"><h2 id="t">Title</h2>…</Dialog>
 */
export function Dialog({ open, ...props }: DialogProps) {
  return open ? <DialogContent {...props} /> : null;
}

function DialogContent({ onOpenChange, className, onKeyDown, onMouseDown, onCancel, onClose, children, ...props }: Omit<DialogProps, 'open'>) {
  const ref = useRef<HTMLDialogElement>(null);
  // Set while the component closes the element itself on unmount (its `close` event is not news).
  const closing = useRef(false);

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    const opener = document.activeElement as HTMLElement | null;
    closing.current = false;
    // Without showModal (old engines, jsdom), an open non-modal dialog still shows and takes focus.
    if (typeof dialog.showModal === 'function') dialog.showModal();
    else dialog.setAttribute('open', '');
    const unlock = lockScroll();
    (dialog.querySelector<HTMLElement>(FOCUSABLE) ?? dialog).focus();
    return () => {
      unlock();
      // Out of the top layer first: the opener is inert while the modal is open and cannot take focus.
      closing.current = true;
      if (dialog.open && typeof dialog.close === 'function') dialog.close();
      if (opener && opener.isConnected) opener.focus();
    };
  }, []);

  const handleKeyDown = (e: KeyboardEvent<HTMLDialogElement>) => {
    onKeyDown?.(e);
    if (e.defaultPrevented || e.key !== 'Tab' || !ref.current) return;
    // The page behind is inert, but Tab would still leave for the browser's UI: cycle inside.
    const items = [...ref.current.querySelectorAll<HTMLElement>(FOCUSABLE)];
    const first = items[0];
    const last = items[items.length - 1];
    if (!first || !last) {
      e.preventDefault();
      return;
    }
    const active = document.activeElement;
    if (e.shiftKey && (active === first || active === ref.current)) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && active === last) {
      e.preventDefault();
      first.focus();
    }
  };

  return (
    <dialog
      ref={ref}
      data-slot="dialog"
      data-state="open"
      className={cn(
        // p-0: the content fills the box, so a click whose target is the <dialog> is on the backdrop.
        'm-auto w-full max-w-[min(28rem,calc(100%-2rem))] rounded-tg border border-tg-border bg-tg-surface p-0 text-tg-foreground shadow-lg outline-none',
        'backdrop:bg-tg-overlay animate-tg-fade-in motion-reduce:animate-none',
        className,
      )}
      onKeyDown={handleKeyDown}
      onCancel={(e: SyntheticEvent<HTMLDialogElement>) => {
        onCancel?.(e);
        // Esc: the parent decides (controlled), and unmounting closes the element.
        e.preventDefault();
        onOpenChange(false);
      }}
      onClose={(e: SyntheticEvent<HTMLDialogElement>) => {
        onClose?.(e);
        // Closed by the platform without a cancel the page could stop (e.g. a repeated Esc). The event
        // comes a task later: from a close of our own, or one already reopened (StrictMode's effect
        // replay), it is stale.
        if (!closing.current && !e.currentTarget.open) onOpenChange(false);
      }}
      onMouseDown={(e: MouseEvent<HTMLDialogElement>) => {
        onMouseDown?.(e);
        if (e.target !== e.currentTarget) return;
        // No focus change for this press: focus goes back to the opener, not to the page.
        e.preventDefault();
        onOpenChange(false);
      }}
      {...props}
    >
      <div data-slot="dialog-content" className="p-6">
        {children}
      </div>
    </dialog>
  );
}
