// A clock for tests of things that read Date.now(): set before each test of the enclosing describe, moved by hand.

/** Mocks Date.now() in each test of the enclosing describe; move the time with `clock.now += ms`. */
export function mockNow(start = 1_000_000): { now: number } {
  const clock = { now: start };
  beforeEach(() => {
    clock.now = start;
    jest.spyOn(Date, 'now').mockImplementation(() => clock.now);
  });
  afterEach(() => jest.restoreAllMocks());
  return clock;
}
