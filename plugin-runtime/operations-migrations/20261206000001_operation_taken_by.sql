-- Which handing of the operation to a server took it for its current run (the server's instance
-- and the handing's number): a handing whose `begin` was carried out but whose answer was lost
-- or came late (a database that stopped answering, then a statement given up) knows the run
-- for its own when it reads the row again, instead of taking it for another server's.
ALTER TABLE plugin_operations ADD COLUMN taken_by TEXT;
