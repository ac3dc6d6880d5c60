import { hasChanges, planChanges } from '../../functions/core/plan.js';

describe('plan changes', () => {
  it('counts creates, updates, deletes and replacements as terraform prints them', () => {
    const plan = {
      resource_changes: [
        { change: { actions: ['create'] } },
        { change: { actions: ['update'] } },
        { change: { actions: ['delete'] } },
        { change: { actions: ['delete', 'create'] } },
        { change: { actions: ['no-op'] } },
        { change: { actions: ['read'] } },
      ],
    };
    expect(planChanges(plan)).toEqual({ add: 2, change: 1, destroy: 2 });
    expect(hasChanges(plan)).toBe(true);
  });

  it('sees output-only changes, and nothing to do as no changes', () => {
    expect(hasChanges({ resource_changes: [{ change: { actions: ['no-op'] } }], output_changes: { o: { actions: ['create'] } } })).toBe(true);
    expect(hasChanges({ resource_changes: [{ change: { actions: ['no-op'] } }], output_changes: { o: { actions: ['no-op'] } } })).toBe(false);
    expect(planChanges({})).toEqual({ add: 0, change: 0, destroy: 0 });
  });
});
