/**
 * `%%dj` cell templates, one per tier, for the "Insert %%dj table cell" commands.
 */

import { Tier } from './detect';

const TEMPLATES: Record<Tier, string> = {
  manual: `%%dj manual Subject
# experimental subjects
subject_id : int32          # unique subject number
---
subject_name = "" : varchar(64)
sex : enum('F', 'M', 'U')
date_of_birth = null : date
`,
  lookup: `%%dj lookup Species
# species studied in the lab
species : varchar(32)
---
common_name : varchar(64)
contents
"mus musculus", "house mouse"
"rattus norvegicus", "brown rat"
`,
  imported: `%%dj imported Recording --make make_recording
# raw traces read from the acquisition files
-> Session
---
sampling_rate : float64     # Hz
traces : <blob>             # channels x samples
`,
  computed: `%%dj computed Segmentation --make segment
# regions of interest found in each recording
-> Recording
---
n_rois : int32
part Roi
-> master
roi_id : int16
---
mask : <blob>
`
};

export function cellTemplate(tier: Tier): string {
  return TEMPLATES[tier];
}

export function tierLabel(tier: Tier): string {
  return tier.charAt(0).toUpperCase() + tier.slice(1);
}
