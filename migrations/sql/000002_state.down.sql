DROP TABLE vecgate.state;
