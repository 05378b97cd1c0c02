import { describe, expect, it } from 'vitest';
import { cn } from './cn.ts';

describe('cn', () => {
  it('joins truthy class names in order and skips falsy ones', () => {
    expect(cn('a', false, null, undefined, 0, '', 'b', 'c')).toBe('a b c');
  });
});
