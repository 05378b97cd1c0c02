/**
 * Turns one of `tokengate init`'s TypeScript templates into its JavaScript variant. The templates
 * are written so that a tiny rule suffices (a test checks, with a real TypeScript transform, that
 * the rule removes exactly the types of every template and nothing else):
 * - `type X` specifiers of an import list are dropped (and `import type …` lines);
 * - a destructured parameter's type literal is dropped: `({ children }: { children: ReactNode })`
 *   → `({ children })`.
 * Templates use no other TypeScript syntax (no annotations elsewhere, no `as`, no `!`).
 *
 * @example
 * stripTypes("import { useState, type ReactNode } from 'react';") // "import { useState } from 'react';"
 */
export function stripTypes(source: string): string {
  return source
    .replace(/^import type [^\n]*\n/gm, '')
    .replace(/,\s*type \w+(?=[\s,}])/g, '')
    .replace(/(?<=\{\s*)type \w+,\s*/g, '')
    .replace(/\}: \{[^{}]*\}\)/g, '})');
}
