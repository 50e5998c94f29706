package planner

import "fmt"

// DescribeConds lists, for the golden shapes, how many WHERE conjuncts are conditions and
// thresholds ("" when none).
func DescribeConds(sh *Shape) string {
	if len(sh.conds)+len(sh.Thresholds) == 0 {
		return ""
	}
	return fmt.Sprintf(" conds=%d thresholds=%d ops=%v", len(sh.conds), len(sh.Thresholds), sh.condOps)
}
