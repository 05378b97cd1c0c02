'use client';
import { useEffect, useRef, type ComponentProps, type KeyboardEvent } from 'react';
import { cn } from '../cn.ts';

/** Props of {@link Dialog}. */
export interface DialogProps extends ComponentProps<'div'> {
  /** Whether the dialog is shown. Nothing renders when closed. */
  open: boolean;
  /** Called with `false` on Esc, a click on the backdrop, or a close button. */
  onOpenChange: (open: boolean) => void;
  /** Class of the backdrop. */
  overlayClassName?: string;
}

const FOCUSABLE =
  'a[href],button:not([disabled]),input:not([disabled]),select:not([disabled]),textarea:not([disabled]),[tabindex]:not([tabindex="-1"])';

/**
 * A modal dialog (internal primitive): `role="dialog"` + `aria-modal`, focus moved in on open and
 * trapped (Tab / Shift+Tab cycle), Esc and a backdrop click close it, and focus returns to the
 * element that had it when the dialog opened. Rendered in place (no portal), so it server-renders.
 * Pass `aria-labelledby` / `aria-describedby`.
 *
 * @example
 * <Dialog open={open} onOpenChange={setOpen} aria-labelledby="t"><h2 id="t">Title</h2>…</Dialog>
 */
export function Dialog({ open, ...props }: DialogProps) {
  return open ? <DialogContent {...props} /> : null;
}

function DialogContent({ onOpenChange, overlayClassName, className, onKeyDown, children, ...props }: Omit<DialogProps, 'open'>) {
  const ref = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    const opener = document.activeElement as HTMLElement | null;
    (dialog.querySelector<HTMLElement>(FOCUSABLE) ?? dialog).focus();
    // Focus that escapes by other means than Tab (a click outside, a script) is pulled back in.
    const onFocusIn = (e: FocusEvent) => {
      if (e.target instanceof Node && !dialog.contains(e.target)) {
        (dialog.querySelector<HTMLElement>(FOCUSABLE) ?? dialog).focus();
      }
    };
    document.addEventListener('focusin', onFocusIn);
    return () => {
      document.removeEventListener('focusin', onFocusIn);
      if (opener && opener.isConnected) opener.focus();
    };
  }, []);

  const handleKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    onKeyDown?.(e);
    if (e.defaultPrevented) return;
    if (e.key === 'Escape') {
      e.stopPropagation();
      onOpenChange(false);
      return;
    }
    if (e.key !== 'Tab' || !ref.current) return;
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
    <div
      data-slot="dialog-overlay"
      data-state="open"
      className={cn(
        'fixed inset-0 z-50 flex items-center justify-center bg-tg-overlay p-4',
        'animate-tg-fade-in motion-reduce:animate-none',
        overlayClassName,
      )}
      onMouseDown={(e) => {
        if (e.target === e.currentTarget) onOpenChange(false);
      }}
    >
      <div
        ref={ref}
        role="dialog"
        aria-modal="true"
        tabIndex={-1}
        data-slot="dialog"
        data-state="open"
        className={cn(
          'w-full max-w-md rounded-tg border border-tg-border bg-tg-surface p-6 text-tg-foreground shadow-lg outline-none',
          className,
        )}
        onKeyDown={handleKeyDown}
        {...props}
      >
        {children}
      </div>
    </div>
  );
}
