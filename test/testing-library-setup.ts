/**
 * Setup file of the dom project: Testing Library's `waitFor` and `findBy…` wait up to 1 s by
 * default, too little for hooks that go through the real handler and ledger on PGlite on a loaded
 * 2-core machine. They wait for conditions; this is only how long before a condition that never
 * comes fails the test.
 */
import { configure } from '@testing-library/react';

configure({ asyncUtilTimeout: 30_000 });
