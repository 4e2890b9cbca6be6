DROP TABLE duty_roster;
