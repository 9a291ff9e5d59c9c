// examples/upload/main.ts edits this line in a copy, uploads again, and sees the new behaviour.
export const FACTOR = 2;

export const weight = (x: number): number => x + 1;
