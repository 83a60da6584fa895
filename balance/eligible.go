package balance

// Eligible applies the backup rule to the usable backends all (already
// filtered for health and administrative state by the caller) and returns
// the backends a Balancer should build its Picker from.
//
// While any non-backup backend with an effective weight above zero is
// usable, only those are returned, in their original order. Otherwise the
// backups with a weight above zero take over: only the first of them, or
// all of them when allBackups is set, as HAProxy does with and without
// "option allbackups". The result is nil when nothing is left.
//
// Eligible allocates a new slice; it is meant for the moments the usable
// set changes, not for every pick.
func Eligible(all []*Backend, allBackups bool) []*Backend {
	var primary, backups []*Backend
	for _, b := range all {
		if b.EffectiveWeight() == 0 {
			continue
		}
		if b.Backup {
			backups = append(backups, b)
			continue
		}
		primary = append(primary, b)
	}
	switch {
	case len(primary) > 0:
		return primary
	case len(backups) == 0:
		return nil
	case allBackups:
		return backups
	}
	return backups[:1:1]
}
