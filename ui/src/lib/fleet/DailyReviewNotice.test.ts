import { describe, expect, it } from 'vitest';
import { render, screen } from '@testing-library/svelte';
import DailyReviewNotice from './DailyReviewNotice.svelte';
import { FakeBackend } from '../../testing/fake-backend';
import { localDay } from './review';

describe('the daily review', () => {
  it('warns on the first start of a day, with the desktop notification, and not again that day', async () => {
    const backend = new FakeBackend({ unlocked: true });
    backend.addAccount('Acme');
    backend.addKey('Acme', 'soon', {
      created_at: new Date().toISOString(),
      expires_at: new Date(Date.now() + 2 * 86_400_000).toISOString(),
    });
    backend.install();
    const first = render(DailyReviewNotice);
    expect(await screen.findByTestId('daily-review')).toHaveTextContent('Acme: 1 key expires within 14 days.');
    expect(backend.argsOf('daily_review')[0]).toEqual({ today: localDay() });
    expect(backend.notifications).toEqual(['Acme']);
    first.unmount();
    render(DailyReviewNotice);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(backend.argsOf('daily_review')).toHaveLength(2);
    expect(screen.queryByTestId('daily-review')).not.toBeInTheDocument();
  });
});
