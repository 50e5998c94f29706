package replication_test

const helperEnv = "VECGATE_REPLICATION_HELPER"

func helperMain() int { return 0 }
