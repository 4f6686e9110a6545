//! Setup of question 3 (tasks, models, measurements used only by its experiment).
