// Checks a whole number typed into a settings field against the core's bounds.
export function numberProblem(raw: string, min: number, max: number): string | null {
  const text = raw.trim();
  if (text === '') return 'Enter a number.';
  if (!/^\d+$/.test(text)) return 'Enter a whole number.';
  const value = Number(text);
  if (value < min || value > max) return `Use a number from ${min} to ${max}.`;
  return null;
}
