-- Version 9 (PostgreSQL only; SQLite's numbers skip it): room on the instances' pages for their updates.
--
-- Every step updates its instance's row. An update can stay on the row's page (a HOT update: no new
-- index entries) only if the page has room, and new rows filled the pages to the brim: about half of a
-- workflow's updates moved their row to another page and took an entry in each of the table's indexes.
-- Pages filled to 70% by inserts keep the rest for updates. Only pages filled from now on are affected
-- (no rewrite, no lock held beyond the ALTER).
ALTER TABLE instances SET (fillfactor = 70);
