/**
 * Owners: only an owner (or the server) makes, changes or removes an owner, and an organization
 * always keeps at least one — also when two of them act at once.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { concurrencyPoolSize, describeEachDb, describeServer } from '../db.ts';
import { call, createOrg, failure, type SqlRunner } from '../ledger.ts';

const owners = async (db: SqlRunner, orgId: string) =>
  (await db.query<{ user_id: string }>(`select user_id from tokengate.members where org_id = $1 and role = 'owner' order by user_id`, [orgId])).map((r) => r.user_id);

describeEachDb('owners', (db) => {
  const member = (orgId: string, actor: string | null, user: string, role: string) =>
    call(db(), 'add_member', { p_org_id: orgId, p_actor_id: actor, p_user_id: user, p_role: role });
  const remove = (orgId: string, actor: string | null, user: string) =>
    call(db(), 'remove_member', { p_org_id: orgId, p_actor_id: actor, p_user_id: user });

  it('an admin can neither promote themselves nor anyone to owner, nor demote or remove an owner', async () => {
    const org = await createOrg(db());
    expect((await failure(member(org.orgId, org.admin, org.admin, 'owner'))).name).toBe('owner_required');
    expect((await failure(member(org.orgId, org.admin, randomUUID(), 'owner'))).name).toBe('owner_required');
    expect((await failure(member(org.orgId, org.admin, org.owner, 'member'))).name).toBe('owner_required');
    expect((await failure(remove(org.orgId, org.admin, org.owner))).name).toBe('owner_required');
    expect(await owners(db(), org.orgId)).toEqual([org.owner]);
    // Admins still manage plain members and admins.
    await member(org.orgId, org.admin, org.members[0]!, 'admin');
    await remove(org.orgId, org.admin, org.members[0]!);
  });

  it('an owner can make another owner; the last owner can neither leave nor step down, not even by the server', async () => {
    const org = await createOrg(db());
    expect((await failure(remove(org.orgId, org.owner, org.owner))).name).toBe('last_owner');
    expect((await failure(member(org.orgId, org.owner, org.owner, 'admin'))).name).toBe('last_owner');
    expect((await failure(remove(org.orgId, null, org.owner))).name).toBe('last_owner');
    await member(org.orgId, org.owner, org.admin, 'owner');
    await member(org.orgId, org.admin, org.owner, 'member');
    expect(await owners(db(), org.orgId)).toEqual([org.admin]);
  });
});

describeServer('owners under concurrency', (db) => {
  it('two owners demoting each other at once: one wins, one owner always remains (20 orgs)', async () => {
    const orgs = await Promise.all(Array.from({ length: 20 }, () => createOrg(db())));
    for (const org of orgs) await call(db(), 'add_member', { p_org_id: org.orgId, p_actor_id: org.owner, p_user_id: org.admin, p_role: 'owner' });
    const pool = db().pool(concurrencyPoolSize(8));
    const q = { query: async (sql: string, params?: unknown[]) => (await pool.query(sql, params)).rows };
    const settle = (p: Promise<unknown>) => p.then(() => 'ok', (e: Error) => e.message);
    const results = await Promise.all(
      orgs.flatMap((org) => [
        settle(call(q, 'add_member', { p_org_id: org.orgId, p_actor_id: org.owner, p_user_id: org.admin, p_role: 'member' })),
        settle(call(q, 'remove_member', { p_org_id: org.orgId, p_actor_id: org.admin, p_user_id: org.owner })),
      ]),
    );
    for (const org of orgs) expect((await owners(db(), org.orgId)).length).toBe(1);
    // Exactly one of each pair succeeded; the other saw the first's result.
    for (let i = 0; i < orgs.length; i++) {
      const pair = results.slice(2 * i, 2 * i + 2);
      expect(pair.filter((r) => r === 'ok').length, JSON.stringify(pair)).toBe(1);
      expect(pair.find((r) => r !== 'ok')).toMatch(/owner_required|admin_required|not_a_member|last_owner/);
    }
  });
});
