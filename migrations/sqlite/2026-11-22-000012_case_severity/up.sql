-- An emergency's grade (DOMAIN.md: I 特别重大, II 重大, III 较大, IV 一般), as the report or
-- the desk gave it: it picks the category's per-severity time limits and the routing rule that
-- sends grades I–III straight to the county centre. Empty for everything else.
ALTER TABLE incidents ADD COLUMN severity TEXT;
