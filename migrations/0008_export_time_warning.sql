-- 0008: why a file's export time is doubtful (ahead of the host's clock, or at odds with the UTC
-- offsets its own messages carry), so that status views can show the file and the reason. NULL
-- when nothing is wrong.
ALTER TABLE source_files ADD COLUMN export_time_warning TEXT;
