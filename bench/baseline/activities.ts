// No-op activities: the baseline measures Temporal's round trips only.
export async function validate(_id: string): Promise<void> {}
export async function reserve(_id: string): Promise<void> {}
export async function markRunning(_id: string): Promise<void> {}
export async function run(_id: string): Promise<void> {}
export async function store(_id: string): Promise<void> {}
export async function release(_id: string): Promise<void> {}
