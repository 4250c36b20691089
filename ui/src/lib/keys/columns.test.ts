import { describe, expect, it } from 'vitest';
import { DEFAULT_WIDTHS, MIN_WIDTH, defaultLayout, loadLayout, saveLayout, totalWidth, withShown, withWidth } from './columns';

function memoryStorage(): Storage {
  const items = new Map<string, string>();
  return {
    get length() {
      return items.size;
    },
    clear: () => items.clear(),
    getItem: (key) => items.get(key) ?? null,
    key: (index) => [...items.keys()][index] ?? null,
    removeItem: (key) => void items.delete(key),
    setItem: (key, value) => void items.set(key, value),
  };
}

describe('the keys table columns', () => {
  it('start at widths that fit 1280 px and remember widths and hidden columns', () => {
    const storage = memoryStorage();
    expect(loadLayout(storage)).toEqual(defaultLayout());
    // Every column but the name fits beside a 200 px name in a 1280 px window.
    expect(totalWidth(defaultLayout())).toBeLessThanOrEqual(1240);

    const arranged = withShown(withWidth(defaultLayout(), 'created', 150), 'created_by', false);
    saveLayout(arranged, storage);
    const again = loadLayout(storage);
    expect(again.widths.created).toBe(150);
    expect(again.hidden).toEqual(['created_by']);
    expect(totalWidth(again)).toBe(totalWidth(defaultLayout()) + 150 - DEFAULT_WIDTHS.created - DEFAULT_WIDTHS.created_by);
  });

  it('never hide the name, keep widths in bounds and forget what they cannot read', () => {
    expect(withShown(defaultLayout(), 'name', false).hidden).toEqual([]);
    expect(withWidth(defaultLayout(), 'key', 3).widths.key).toBe(MIN_WIDTH);
    const storage = memoryStorage();
    storage.setItem('keyward.keys.columns', '{"widths":{"key":"wide","name":90},"hidden":["name","nope","status"]}');
    const layout = loadLayout(storage);
    expect(layout.widths.key).toBe(DEFAULT_WIDTHS.key);
    expect(layout.widths.name).toBe(90);
    expect(layout.hidden).toEqual(['status']);
    storage.setItem('keyward.keys.columns', 'not json');
    expect(loadLayout(storage)).toEqual(defaultLayout());
  });
});
