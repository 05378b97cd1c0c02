/** A class value: a string, or a falsy value that is skipped. */
export type ClassValue = string | false | null | undefined | 0;

/**
 * Joins class names, skipping falsy ones, so every part can merge the app's `className` after its
 * own. No conflict resolution (no tailwind-merge): the kit's classes are few and the app's come
 * last, so an app overrides with `!` utilities or its own CSS when it needs to.
 *
 * @example
 * cn('rounded-md p-2', isActive && 'bg-tg-primary', className) // 'rounded-md p-2 bg-tg-primary custom'
 */
export function cn(...classes: ClassValue[]): string {
  return classes.filter(Boolean).join(' ');
}
