#!/usr/bin/env bash
# GaitSet and SelfGait trained at the published recipe on CASIA-B from its compact file, their
# tables printed beside the paper's: the command for a lent GPU machine (docs/gpu_recipe.md).
#
#   bash tools/published_recipe.sh WORK_DIR [REPORT_DIR]
#
# Stages, each in its own workdir, STEPS steps each (the recipe: 80,000; Adam 1e-4, constant):
#   WORK_DIR/gaitset           configs/gaitset.py: GaitSet, the batch-all triplet loss on all 74
#                              training subjects, 8 x 16 sequences of 30 unordered frames;
#   WORK_DIR/pretrain          configs/pretrain.py: SelfGait's BYOL pretraining, 128 windows of 30 + 1
#                              frames, on the training subjects' sequences with their labels dropped
#                              (the paper pretrains on a pool drawn from OU-MVLP instead);
#   WORK_DIR/finetune_from_N   configs/finetune.py from the pretraining's step N, on 40 % of the
#                              training sequences' labels, 8 x 16 sequences of 30 frames;
# then tools/evaluate.py on the 50 test subjects (every frame of every sequence) and
# tools/compare.py --paper: both tables beside the published numbers, and notes that say where the
# run departs from the recipe (fewer steps, the pool, the size).
#
# Resumable: a stage goes on from its latest checkpoint and a finished one is skipped, so the same
# command again goes on where the last one stopped (a lent machine runs a command for at most 600 s).
#
# Environment:
#   DATA=data/casia_b.npz   the compact file (a relative path from the current folder):
#                           python3 tools/pack_dataset.py --data=casia_b_pkl
#                           --data_root=PKL_ROOT --out=data/casia_b.npz (56 MiB). Keep it out of git
#                           (echo /data/ >> .git/info/exclude) and name it in the device call's carry.
#   STEPS=80000             steps of each stage. Fewer train the first STEPS steps of the recipe,
#                           which the report says; a later call with more goes on from them.
#   TIME_LIMIT=0            seconds after which no stage starts and a running one stops (it resumes
#                           next time); 0: none. E.g. 520 in a 600 s call, leaving the report time.
#   STAGES="gaitset selfgait"
#   SIZE=full               "tiny": the configs' :tiny network and batches, a CPU check of this script
#   EVAL_MAX_LENGTH=0       frames embedded per test sequence; 0: all, the published protocol
#   CHECKPOINT_EVERY=500
#
# WORK_DIR (checkpoints: tens of MB a stage) lasts only while the lent machine stays warm: keep it
# outside $OUT, e.g. /tmp/recipe, and give $OUT as REPORT_DIR, so that what can come back does:
# report.md (the tables and the notes) and recipe_runs.tgz (every stage's metrics.jsonl, TensorBoard
# events, log and evaluation tables, without checkpoints or embeddings).
set -euo pipefail
work=${1:?usage: bash tools/published_recipe.sh WORK_DIR [REPORT_DIR]}
report_dir=${2:-}
data=${DATA:-data/casia_b.npz}
recipe_steps=80000
steps=${STEPS:-$recipe_steps}
time_limit=${TIME_LIMIT:-0}
stages=${STAGES:-gaitset selfgait}
size=${SIZE:-full}
eval_max_length=${EVAL_MAX_LENGTH:-0}
checkpoint_every=${CHECKPOINT_EVERY:-500}
case $size in
  full) variant="" ;;
  tiny) variant=":tiny" ;;
  *) echo "error: SIZE=$size is not full or tiny" >&2; exit 1 ;;
esac
if [[ ! -f $data ]]; then
  echo "error: DATA=$data is not a file; make it with python3 tools/pack_dataset.py" \
    "--data=casia_b_pkl --data_root=PKL_ROOT --out=$data" >&2
  exit 1
fi
# Absolute paths (the runs' configs keep init_from and data.root), then the repository root.
mkdir -p "$work/logs"
work=$(cd "$work" && pwd)
data=$(cd "$(dirname "$data")" && pwd)/$(basename "$data")
[[ -z $report_dir ]] || report_dir=$(mkdir -p "$report_dir" && cd "$report_dir" && pwd)
cd "$(dirname "$0")/.."
source tools/lent_machine.sh
# Compiles are kept, so a second call on the same machine skips them (about a minute each).
export JAX_COMPILATION_CACHE_DIR=${JAX_COMPILATION_CACHE_DIR:-$work/jax_cache}
started=$SECONDS
notes=()
device=$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | head -1) || true
echo "device: ${device:-no GPU seen by nvidia-smi}"

latest_step() {  # the step of the latest finished checkpoint in workdir $1; 0 without one
  local step
  step=$(find "$1/checkpoints" -mindepth 1 -maxdepth 1 -type d -regex '.*/[0-9]+' -printf '%f\n' \
    2>/dev/null | sort -n | tail -1) || true
  echo "${step:-0}"
}

limited() {  # runs "$@" within what is left of TIME_LIMIT; status 124 when it stopped it
  if (( time_limit == 0 )); then "$@"; return; fi
  local left=$(( time_limit - (SECONDS - started) ))
  if (( left <= 0 )); then return 124; fi
  timeout --kill-after=30 "$left" "$@"
}

train() {  # NAME CONFIG WORKDIR [OVERRIDE...]: trains WORKDIR to STEPS; status 1 if it stopped first
  local name=$1 config=$2 dir=$3 at status=0
  shift 3
  at=$(latest_step "$dir")
  if (( at >= steps )); then
    echo "$name: trained ($at steps, $dir)"
    return 0
  fi
  echo "$name: training from step $at to $steps in $dir"
  limited python3 -m selfgait_jax.main --config="configs/$config.py$variant" --workdir="$dir" \
    --config.total_steps="$steps" --config.checkpoint_every="$checkpoint_every" \
    --config.data.name=casia_b_pkl --config.data.root="$data" "$@" \
    2> >(tee -a "$work/logs/$(basename "$dir").log" >&2) || status=$?
  if (( status == 124 || status == 137 )); then
    notes+=("$name stopped at the time limit at step $(latest_step "$dir") of $steps; the same command goes on from there.")
    return 1
  elif (( status != 0 )); then
    echo "error: $name failed (status $status; log: $work/logs/$(basename "$dir").log)" >&2
    exit "$status"
  fi
}

evaluate() {  # NAME WORKDIR: the tables of its latest checkpoint in WORKDIR/eval/STEP/
  local name=$1 dir=$2 at status=0
  at=$(latest_step "$dir")
  [[ -f $dir/eval/$at/results.json ]] && return 0
  echo "$name: evaluating step $at"
  local length=()
  (( eval_max_length > 0 )) && length=(--max_length="$eval_max_length")
  limited python3 tools/evaluate.py --workdir="$dir" --step="$at" "${length[@]}" \
    > "$work/logs/$(basename "$dir")_eval.txt" || status=$?
  if (( status == 124 || status == 137 )); then
    notes+=("$name's evaluation stopped at the time limit; the same command runs it again.")
    return 1
  elif (( status != 0 )); then
    echo "error: evaluating $name failed (status $status)" >&2
    exit "$status"
  fi
}

runs=() names=()
finished() {  # NAME WORKDIR TRAINED STEPS...: its table goes into the report, with the steps of its stages
  local name=$1 dir=$2 trained=$3 at
  shift 3
  at=$(latest_step "$dir")
  runs+=("$dir/eval/$at") names+=("$name (ours)")
  local fewest
  fewest=$(printf '%s\n' "$@" | sort -n | head -1)
  if (( fewest < recipe_steps )); then
    notes+=("$name $trained of the recipe's $recipe_steps steps: the beginning of the published recipe, not the recipe.")
  else
    notes+=("$name $trained steps, the recipe's $recipe_steps.")
  fi
}

for stage in $stages; do
  case $stage in
    gaitset)
      if train GaitSet gaitset "$work/gaitset" && evaluate GaitSet "$work/gaitset"; then
        at=$(latest_step "$work/gaitset")
        finished GaitSet "$work/gaitset" "trained $at" "$at"
      fi ;;
    selfgait)
      if train "SelfGait pretraining" pretrain "$work/pretrain" --config.data.pool_ratio=0; then
        pre=$(latest_step "$work/pretrain")
        fine=$work/finetune_from_$pre
        if train "SelfGait fine-tuning" finetune "$fine" --config.init_from="$work/pretrain" \
            && evaluate SelfGait "$fine"; then
          at=$(latest_step "$fine")
          finished SelfGait "$fine" "was pretrained $pre and fine-tuned $at" "$pre" "$at"
          notes+=("SelfGait was pretrained on CASIA-B's 74 training subjects with their labels dropped, not on the paper's pool drawn from OU-MVLP (SG-2/4/6), then fine-tuned on 40 % of their labels.")
        fi
      fi ;;
    *) echo "error: STAGES has $stage; expected gaitset and/or selfgait" >&2; exit 1 ;;
  esac
done

(( ${#runs[@]} )) || notes+=("No stage has finished yet: the table holds the published rows only.")
[[ $size == tiny ]] && notes+=("SIZE=tiny: the configs' tiny network and batches, a check of this script; these numbers say nothing of the recipe.")
(( eval_max_length > 0 )) && notes+=("EVAL_MAX_LENGTH=$eval_max_length: the tables embed the first $eval_max_length frames of each test sequence; the published protocol embeds all of them.")
named=()
(( ${#names[@]} )) && named=(--names="$(IFS=,; echo "${names[*]}")")
{
  echo "# GaitSet and SelfGait on CASIA-B (LT: 74 training, 50 test subjects), the published recipe"
  echo
  python3 tools/compare.py "${runs[@]}" "${named[@]}" --paper
  echo
  for note in "${notes[@]}"; do echo "- $note"; done
  echo
  echo "Data: $(basename "$data"); device: ${device:-no GPU seen by nvidia-smi}; $(( SECONDS - started )) s in this call."
} | tee "$work/report.md"
if [[ -n $report_dir ]]; then
  cp "$work/report.md" "$report_dir/report.md"
  tar -czf "$report_dir/recipe_runs.tgz" -C "$work" --exclude=checkpoints --exclude=jax_cache \
    --exclude=embeddings.npz --exclude=.lock .
fi
