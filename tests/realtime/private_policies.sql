-- Realtime Authorization as Supabase's docs write it: each user reads and writes its own room,
-- every signed-in user reads the lobby but may not send to it.
create policy "read own room" on realtime.messages for select to authenticated
  using (realtime.topic() = 'room-' || auth.uid()::text and extension in ('broadcast', 'presence'));
create policy "write own room" on realtime.messages for insert to authenticated
  with check (realtime.topic() = 'room-' || auth.uid()::text and extension in ('broadcast', 'presence'));
create policy "read the lobby" on realtime.messages for select to authenticated
  using (realtime.topic() = 'lobby');
