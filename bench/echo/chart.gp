# Round trips/s per echo server and scenario, from run.sh's throughput.tsv.
# gnuplot -e "data='throughput.tsv'; out='throughput.png'" bench/echo/chart.gp
set terminal pngcairo size 900,480 font ",10"
set output out
set termoption noenhanced # server names contain underscores
set title "Echo round trips/s (median of interleaved slices; higher is better)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key top right
set ylabel "round trips/s"
set xlabel "connections x message size"
set format y "%.0s%c"
set yrange [0:*]
set grid ytics
plot for [i=2:*] data using i:xtic(1) title columnheader(i)
