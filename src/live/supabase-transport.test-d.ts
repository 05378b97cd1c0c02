import type { SupabaseClient } from '@supabase/supabase-js';
import { expectTypeOf, test } from 'vitest';
import type { RealtimeClientLike } from './supabase-transport.ts';

test("supabase-js's client is a RealtimeClientLike (a drift of its Realtime API breaks this)", () => {
  expectTypeOf<SupabaseClient>().toExtend<RealtimeClientLike>();
  // The channel the transport builds on is supabase-js's own.
  expectTypeOf<ReturnType<SupabaseClient['channel']>>().toExtend<ReturnType<RealtimeClientLike['channel']>>();
});
