-- 0012: a result's comment (the lab's NTE lines, or a CSV comment column), replaced under the same
-- precedence rule as its value.
ALTER TABLE observations ADD COLUMN comment TEXT;
